"""Blob store on S3."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from maas.adapters.aws import client
from maas.ports import BlobInfo

CHUNK = 1024 * 1024


class S3BlobStore:
    """The client is made on first use: a warm inference function never needs one."""

    @property
    def _s3(self) -> Any:
        return client("s3")

    def presign_put(self, bucket: str, key: str, *, expires_in: int, content_type: str) -> str:
        url: str = self._s3.generate_presigned_url(
            "put_object",
            Params={"Bucket": bucket, "Key": key, "ContentType": content_type},
            ExpiresIn=expires_in,
        )
        return url

    def presign_get(self, bucket: str, key: str, *, expires_in: int) -> str:
        url: str = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
        )
        return url

    def put_file(self, bucket: str, key: str, path: str) -> None:
        self._s3.upload_file(path, bucket, key)  # the transfer manager: multipart above 8 MB, memory bounded

    def put(self, bucket: str, key: str, data: bytes) -> str | None:
        result = self._s3.put_object(Bucket=bucket, Key=key, Body=data)
        version_id: str | None = result.get("VersionId")
        return version_id

    def head(self, bucket: str, key: str, version_id: str | None = None) -> BlobInfo | None:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            meta = self._s3.head_object(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound", "NoSuchVersion"):
                return None
            raise
        return BlobInfo(size=int(meta["ContentLength"]), version_id=meta.get("VersionId"))

    def iter_bytes(self, bucket: str, key: str, version_id: str | None = None) -> Iterator[bytes]:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        body = self._s3.get_object(**kwargs)["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()
