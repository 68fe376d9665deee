"""S3BlobStore against moto."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from maas.adapters import s3 as s3_adapter
from maas.adapters.s3 import S3BlobStore

from tests.integration.conftest import client

BUCKET = "maas-artifacts-test"
KEY = "models/acme/resnet/1/model.onnx"


@pytest.fixture
def blobs(aws_mock: None) -> S3BlobStore:
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return S3BlobStore()


def test_head_of_a_missing_object_is_none(blobs: S3BlobStore) -> None:
    assert blobs.head(BUCKET, KEY) is None


def test_head_of_a_missing_version_is_none(blobs: S3BlobStore) -> None:
    client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=b"x")

    assert blobs.head(BUCKET, KEY, "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nrjfkd") is None


def test_head_reports_size_and_version(blobs: S3BlobStore) -> None:
    put = client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=b"0123456789")

    info = blobs.head(BUCKET, KEY)

    assert info is not None
    assert info.size == 10
    assert info.version_id == put["VersionId"]


def test_head_and_iter_bytes_of_an_older_version(blobs: S3BlobStore) -> None:
    s3 = client("s3")
    first = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"first upload")["VersionId"]
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"second, longer upload")

    info = blobs.head(BUCKET, KEY, first)

    assert info == (len(b"first upload"), first)
    assert b"".join(blobs.iter_bytes(BUCKET, KEY, first)) == b"first upload"
    assert b"".join(blobs.iter_bytes(BUCKET, KEY)) == b"second, longer upload"


def test_iter_bytes_streams_the_whole_object_in_chunks(blobs: S3BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_adapter, "CHUNK", 1000)
    data = bytes(range(256)) * 20  # 5120 bytes -> six chunks
    client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=data)

    chunks = list(blobs.iter_bytes(BUCKET, KEY))

    assert len(chunks) == 6
    assert all(len(chunk) <= 1000 for chunk in chunks)
    assert hashlib.sha256(b"".join(chunks)).digest() == hashlib.sha256(data).digest()


def test_presign_put_names_the_bucket_key_and_lifetime(blobs: S3BlobStore) -> None:
    url = blobs.presign_put(BUCKET, KEY, expires_in=900, content_type="application/octet-stream")

    parts = urlsplit(url)
    assert parts.scheme == "https"
    assert BUCKET in parts.netloc + parts.path
    assert parts.path.endswith(KEY)
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["900"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert "content-type" in query["X-Amz-SignedHeaders"][0]


def test_path_style_urls_when_an_endpoint_is_set(aws_mock: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # The local runtime points boto3 at a plain host:port, where only path-style addressing works.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    from maas.adapters import aws

    aws.reset()

    url = S3BlobStore().presign_put(BUCKET, KEY, expires_in=60, content_type="application/octet-stream")

    assert url.startswith(f"http://127.0.0.1:5000/{BUCKET}/{KEY}?")
