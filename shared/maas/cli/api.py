"""The SDK client a command talks through (``maas_client.MaasClient``), made from ``--url``, ``--api-key`` and
``--state-dir`` (see ``maas.cli.credentials``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from maas.cli.credentials import resolve_credentials

if TYPE_CHECKING:  # the SDK imports requests, which the worker image (`maas worker ...`) does not install
    from maas_client import MaasClient


def api_client(args: argparse.Namespace) -> MaasClient:
    from maas_client import MaasClient  # here, not on top: see above

    url, api_key = resolve_credentials(args.url, args.api_key, getattr(args, "state_dir", None))
    return MaasClient(url, api_key)
