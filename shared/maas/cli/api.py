"""The API client a command talks through, made from the global ``--url`` and ``--api-key``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the client imports requests, which the worker image (`maas worker ...`) does not install
    from maas.cli.client import MaasClient


def api_client(args: argparse.Namespace) -> MaasClient:
    from maas.cli.client import MaasClient  # here, not on top: see above

    return MaasClient(args.url, args.api_key, state_dir=getattr(args, "state_dir", None))
