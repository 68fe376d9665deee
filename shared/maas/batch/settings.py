"""Where a batch job's files go and how large they may be: one value shared by the API, split, shards and assembly."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass


@dataclass
class BatchSettings:
    inbox_bucket: str
    outbox_bucket: str
    shard_rows: int = 1000
    max_input_bytes: int = 5 * 1024**3
    upload_expires_in: int = 3600
    download_expires_in: int = 3600
    work_dir: str = tempfile.gettempdir()
