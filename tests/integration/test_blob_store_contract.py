"""The BlobStore contract, on the in-memory fake and on S3 (moto): versions, heads, streams, uploads from files."""

from __future__ import annotations

from pathlib import Path

import pytest

from maas.adapters.s3 import S3BlobStore
from maas.ports import BlobStore

from tests.fakes import InMemoryBlobStore
from tests.integration.conftest import client

BUCKET = "maas-contract-blobs"
KEY = "models/acme/resnet/1/model.onnx"


@pytest.fixture(params=["fake", "s3"])
def blobs(request: pytest.FixtureRequest) -> BlobStore:
    if request.param == "fake":
        return InMemoryBlobStore(chunk_size=4)
    request.getfixturevalue("aws_mock")
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return S3BlobStore()


def test_an_object_is_read_back_whole_with_its_size_and_version(blobs: BlobStore) -> None:
    version_id = blobs.put(BUCKET, KEY, b"0123456789")

    info = blobs.head(BUCKET, KEY)
    assert info is not None
    assert info.size == 10
    assert info.version_id == version_id
    assert b"".join(blobs.iter_bytes(BUCKET, KEY)) == b"0123456789"


def test_an_older_version_stays_readable_by_its_id(blobs: BlobStore) -> None:
    first = blobs.put(BUCKET, KEY, b"first")
    blobs.put(BUCKET, KEY, b"second!")

    assert b"".join(blobs.iter_bytes(BUCKET, KEY)) == b"second!"
    assert b"".join(blobs.iter_bytes(BUCKET, KEY, first)) == b"first"
    assert blobs.head(BUCKET, KEY, first).size == 5  # type: ignore[union-attr]


def test_missing_objects_and_versions_have_no_head(blobs: BlobStore) -> None:
    assert blobs.head(BUCKET, KEY) is None
    blobs.put(BUCKET, KEY, b"x")
    assert blobs.head(BUCKET, "models/acme/other/1/model.onnx") is None
    assert blobs.head(BUCKET, KEY, "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nrjfkd") is None


def test_reading_a_missing_object_raises(blobs: BlobStore) -> None:
    with pytest.raises(Exception):
        b"".join(blobs.iter_bytes(BUCKET, KEY))


def test_a_file_is_uploaded_as_it_is_on_disk(blobs: BlobStore, tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    path.write_bytes(b'{"row": 0}\n' * 1000)

    blobs.put_file(BUCKET, "outbox/acme/job/predictions.jsonl", str(path))

    assert b"".join(blobs.iter_bytes(BUCKET, "outbox/acme/job/predictions.jsonl")) == path.read_bytes()


def test_presigned_urls_name_the_key(blobs: BlobStore) -> None:
    put = blobs.presign_put(BUCKET, KEY, expires_in=60, content_type="application/octet-stream")
    get = blobs.presign_get(BUCKET, KEY, expires_in=60)

    assert KEY in put
    assert KEY in get
