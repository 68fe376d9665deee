"""Shared by every suite: make ``tests.fakes`` importable however pytest is started.

pytest's default import mode puts each test's own folder on ``sys.path``, not the repository root; the fakes
are imported as ``tests.fakes`` so that the suites share one copy of them.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
