"""cfn-lint on the SAM template and on its offline CloudFormation translation (what `make lint` runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import REPO_ROOT, TEMPLATE

CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CFN_LINT), str(path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_sam_template_passes_cfn_lint() -> None:
    result = lint(TEMPLATE)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_offline_translation_passes_cfn_lint(tmp_path: Path) -> None:
    translated = tmp_path / "t.json"
    translate = subprocess.run(
        [sys.executable, "-m", "maas.local.translate", str(TEMPLATE), "--output", str(translated)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert translate.returncode == 0, translate.stderr
    assert translated.stat().st_size > 0

    result = lint(translated)

    assert result.returncode == 0, result.stdout + result.stderr
