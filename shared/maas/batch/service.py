"""Batch predictions: start (API or a direct inbox write), split, run shards, assemble once.

job, upload = batches.start(principal, "scorer", None, BatchFormat.JSONL, None)   # presigned PUT
batches.split(inbox_bucket, key)        # S3 ObjectCreated on batch/...: shards -> cpu-shards | gpu-jobs
batches.run_shard(message_body)         # a worker: rows -> predictions and row errors -> counted once
                                        # the shard that completes the job assembles it (claimed once)
"""

from __future__ import annotations

import builtins
import hashlib
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from maas.access import AccessPolicy
from maas.authz import require
from maas.batch.formats import BatchInputError, PredictionWriter, json_line, parse_json_lines, read_rows
from maas.datatypes import to_numpy
from maas.domain import Principal, Scope, Signature, Target
from maas.domain.access import Action, ModelAccess
from maas.domain.aliases import DEFAULT_ALIAS
from maas.domain.batch import (
    ASSEMBLY_STALE_SECONDS,
    SPLIT_STALE_SECONDS,
    BatchFormat,
    BatchJob,
    BatchStatus,
    ShardMessage,
    inbox_key,
    new_batch_id,
    outbox_prefix,
    parse_inbox_key,
    result_key,
    shard_key,
    split_errors_key,
)
from maas.errors import ConflictError, MaasError, ModelLoadError, NotFoundError, first_line
from maas.events import BatchJobCompleted, BatchJobFailed
from maas.inference.cache import ModelCache
from maas.inference.service import VersionResolver
from maas.observability import logger
from maas.ports import BlobStore, EventPublisher
from maas.quotas import QuotaEnforcer

RUN_ROWS = 1024
"""Rows per model run inside a shard."""


class BatchStore(Protocol):
    def create_batch(self, job: BatchJob) -> tuple[BatchJob, bool]: ...
    def find_by_key(self, tenant_id: str, key: str) -> BatchJob | None: ...
    def get_batch(self, tenant_id: str, job_id: str) -> BatchJob | None: ...
    def list_batches(self, tenant_id: str, limit: int = 100) -> list[BatchJob]: ...
    def claim_split(self, tenant_id: str, job_id: str, token: str, now: float, stale_before: float) -> bool: ...
    def finish_split(
        self,
        tenant_id: str,
        job_id: str,
        token: str,
        *,
        version: int,
        target: str,
        rows: int,
        shards: int,
        errors: int,
        input_bytes: int,
    ) -> bool: ...
    def fail_batch(self, tenant_id: str, job_id: str, reason: str, expect: tuple[BatchStatus, ...]) -> bool: ...
    def complete_shard(self, tenant_id: str, job_id: str, shard: int, rows_done: int, rows_failed: int) -> bool: ...
    def claim_assembly(self, tenant_id: str, job_id: str, token: str, now: float, stale_before: float) -> bool: ...
    def finish_batch(
        self,
        tenant_id: str,
        job_id: str,
        token: str,
        status: BatchStatus,
        *,
        manifest: dict[str, Any],
        error: str | None,
    ) -> bool: ...
    def mark_batch_announced(self, tenant_id: str, job_id: str) -> None: ...


class QueueSender(Protocol):
    def send(self, body: str) -> None: ...


@dataclass(frozen=True)
class Upload:
    url: str
    method: str
    headers: dict[str, str]
    expires_in: int


@dataclass
class BatchSettings:
    inbox_bucket: str
    outbox_bucket: str
    shard_rows: int = 1000
    max_input_bytes: int = 5 * 1024**3
    upload_expires_in: int = 3600
    download_expires_in: int = 3600
    work_dir: str = tempfile.gettempdir()


class BatchService:
    def __init__(
        self,
        store: BatchStore,
        resolver: VersionResolver,
        blobs: BlobStore,
        events: EventPublisher,
        *,
        settings: BatchSettings,
        access: AccessPolicy | None = None,
        quotas: QuotaEnforcer | None = None,
        tenants: Any = None,
        cpu_shards: QueueSender | None = None,
        gpu_shards: QueueSender | None = None,
        models: ModelCache | None = None,
        clock: Any = time.time,
    ) -> None:
        self.store = store
        self.resolver = resolver
        self.blobs = blobs
        self.events = events
        self.settings = settings
        self.access = access
        self.quotas = quotas
        self.tenants = tenants
        self.cpu_shards = cpu_shards
        self.gpu_shards = gpu_shards
        self.models = models
        self.clock = clock

    # --- API ------------------------------------------------------------------------------------------------
    def _access(self, principal: Principal, ref: str, version: str | None) -> ModelAccess:
        access = (
            self.access.model(principal, ref, Action.INFER) if self.access else ModelAccess(principal.tenant_id, ref)
        )
        access.check_ref(version, DEFAULT_ALIAS)
        return access

    def start(
        self, principal: Principal, model: str, version: str | None, fmt: BatchFormat, name: str | None
    ) -> tuple[BatchJob, Upload]:
        """A job waiting for its file, and the presigned PUT that starts it."""
        require(principal, Scope.INVOKE)
        access = self._access(principal, model, version)
        self.resolver.resolve(access.owner, access.model, version)  # 404 / 503 now rather than after the upload
        if self.quotas is not None:
            self.quotas.admit(principal, access)
        job_id = new_batch_id()
        key = inbox_key(principal.tenant_id, model, version or DEFAULT_ALIAS, name or job_id, fmt)
        job = BatchJob(
            tenant_id=principal.tenant_id,
            job_id=job_id,
            model=model,
            version_ref=version,
            format=fmt,
            name=name or job_id,
            inbox_key=key,
        )
        stored, created = self.store.create_batch(job)
        if not created:
            raise ConflictError(f"a batch job named '{name}' exists already for this model; choose another name")
        content_type = {
            "jsonl": "application/x-ndjson",
            "csv": "text/csv",
            "parquet": "application/vnd.apache.parquet",
        }[fmt]
        url = self.blobs.presign_put(
            self.settings.inbox_bucket, key, expires_in=self.settings.upload_expires_in, content_type=content_type
        )
        return stored, Upload(url, "PUT", {"Content-Type": content_type}, self.settings.upload_expires_in)

    def get(self, principal: Principal, job_id: str) -> BatchJob:
        require(principal, Scope.READ)
        job = self.store.get_batch(principal.tenant_id, job_id)
        if job is None:
            raise NotFoundError(f"batch job '{job_id}' not found")
        return job

    def list(self, principal: Principal, limit: int = 100) -> list[BatchJob]:
        require(principal, Scope.READ)
        return self.store.list_batches(principal.tenant_id, limit)

    def downloads(self, job: BatchJob) -> dict[str, str]:
        """Presigned GET URLs of the predictions, errors and manifest, once the job is done."""
        if job.status not in (BatchStatus.SUCCEEDED, BatchStatus.PARTIAL):
            return {}
        prefix = outbox_prefix(job.tenant_id, job.job_id)
        names = {
            "predictions": f"predictions.{job.format.value}",
            "errors": "errors.jsonl",
            "manifest": "manifest.json",
        }
        return {
            kind: self.blobs.presign_get(
                self.settings.outbox_bucket, f"{prefix}/{name}", expires_in=self.settings.download_expires_in
            )
            for kind, name in names.items()
        }

    # --- split ----------------------------------------------------------------------------------------------
    def split(self, bucket: str, key: str) -> BatchJob | None:
        """An object arrived in the inbox: find or make its job, then split it into shards (at most once)."""
        parsed = parse_inbox_key(key)
        if parsed is None:
            logger.warning(
                "inbox object is not batch/{tenant}/{model}/{version}/{name}.{ext}; ignored", extra={"key": key}
            )
            return None
        if self.tenants is not None and self.tenants.get_tenant(parsed.tenant_id) is None:
            logger.warning("inbox object under an unknown tenant; nothing run", extra={"key": key})
            return None
        job = self.store.find_by_key(parsed.tenant_id, key)
        if job is None:  # written directly by a service with access to the inbox
            ref = None if parsed.ref == DEFAULT_ALIAS else parsed.ref
            fresh = BatchJob(
                tenant_id=parsed.tenant_id,
                job_id=new_batch_id(),
                model=parsed.model,
                version_ref=ref,
                format=parsed.format,
                name=parsed.name,
                inbox_key=key,
                source="inbox",
            )
            job, _ = self.store.create_batch(fresh)
        if job.status.is_final or job.status in (BatchStatus.RUNNING, BatchStatus.ASSEMBLING):
            logger.info("batch job already split", extra={"job_id": job.job_id, "status": job.status})
            return job
        token, now = uuid.uuid4().hex, self.clock()
        if not self.store.claim_split(job.tenant_id, job.job_id, token, now, now - SPLIT_STALE_SECONDS):
            return self.store.get_batch(job.tenant_id, job.job_id)
        try:
            self._split(job, bucket, key, token)
        except (BatchInputError, MaasError) as failed:
            reason = failed.message if isinstance(failed, MaasError) else str(failed)
            self._fail(job, reason, (BatchStatus.SPLITTING,))
        return self.store.get_batch(job.tenant_id, job.job_id)

    def _split(self, job: BatchJob, bucket: str, key: str, token: str) -> None:
        principal = Principal(tenant_id=job.tenant_id, key_id="inbox", scopes=frozenset({Scope.INVOKE}))
        access = self._access(principal, job.model, job.version_ref)
        model = self.resolver.model(access.owner, access.model)
        version = self.resolver.resolve(access.owner, access.model, job.version_ref).version
        signature = version.signature
        if signature is None:
            raise BatchInputError(f"version {version.version} of '{job.model}' has no signature")
        info = self.blobs.head(bucket, key)
        if info is None:
            raise BatchInputError("the uploaded file is no longer in the inbox")
        if info.size > self.settings.max_input_bytes:
            raise BatchInputError(f"the file is {info.size} bytes, over the limit of {self.settings.max_input_bytes}")
        queue = self.gpu_shards if model.target == Target.GPU else self.cpu_shards
        if queue is None:
            raise BatchInputError(f"no queue runs {model.target}-target shards here")
        errors: builtins.list[bytes] = []
        shard: builtins.list[bytes] = []
        shards = rows = 0

        def flush() -> None:
            nonlocal shard, shards
            self.blobs.put(self.settings.outbox_bucket, shard_key(job.tenant_id, job.job_id, shards), b"".join(shard))
            queue.send(
                ShardMessage(
                    tenant_id=job.tenant_id, job_id=job.job_id, shard=shards, rows=len(shard), version=version.version
                ).model_dump_json()
            )
            shards += 1
            shard = []

        with tempfile.TemporaryDirectory(dir=self.settings.work_dir) as work:
            for row in read_rows(job.format, self.blobs.iter_bytes(bucket, key), signature, Path(work) / "input"):
                rows += 1
                if row.error is not None:
                    errors.append(json_line({"row": row.index, "id": row.id, "error": row.error}))
                    continue
                shard.append(json_line({"row": row.index, "id": row.id, "inputs": row.inputs}))
                if len(shard) >= self.settings.shard_rows:
                    flush()
            if shard:
                flush()
        self.blobs.put(self.settings.outbox_bucket, split_errors_key(job.tenant_id, job.job_id), b"".join(errors))
        if rows == 0:
            raise BatchInputError("the file has no data rows")
        self.store.finish_split(
            job.tenant_id,
            job.job_id,
            token,
            version=version.version,
            target=model.target.value,
            rows=rows,
            shards=shards,
            errors=len(errors),
            input_bytes=info.size,
        )
        logger.info(
            "batch job split", extra={"job_id": job.job_id, "rows": rows, "shards": shards, "errors": len(errors)}
        )
        self._maybe_assemble(job.tenant_id, job.job_id)  # every row may have been malformed, or shards already done

    # --- shards ---------------------------------------------------------------------------------------------
    def run_shard(self, body: str) -> None:
        """Run one shard's rows; count it once; assemble the job if it was the last."""
        message = ShardMessage.model_validate_json(body)
        job = self.store.get_batch(message.tenant_id, message.job_id)
        if job is None or job.status.is_final:
            return
        principal = Principal(tenant_id=job.tenant_id, key_id="inbox", scopes=frozenset({Scope.INVOKE}))
        access = self._access(principal, job.model, None)
        version = self.resolver.version(access.owner, access.model, message.version)
        signature = version.signature
        assert signature is not None
        assert self.models is not None, "a shard worker needs a model cache"
        lines = parse_json_lines(
            self.blobs.iter_bytes(self.settings.outbox_bucket, shard_key(job.tenant_id, job.job_id, message.shard))
        )
        try:
            backend = self.models.session(version)
        except ModelLoadError as exc:  # every row fails with the reason; the job still finishes
            reason = f"the model could not be loaded: {exc}"
            results = [{"row": line["row"], "id": line["id"], "error": reason} for line in lines]
        else:
            results = list(self._predict(backend, signature, lines))
        self.blobs.put(
            self.settings.outbox_bucket,
            result_key(job.tenant_id, job.job_id, message.shard),
            b"".join(json_line(r) for r in results),
        )
        failed = sum(1 for r in results if "error" in r)
        if self.store.complete_shard(job.tenant_id, job.job_id, message.shard, len(results) - failed, failed):
            logger.info("shard done", extra={"job_id": job.job_id, "shard": message.shard, "rows": len(results)})
        self._maybe_assemble(job.tenant_id, job.job_id)

    def _predict(self, backend: Any, signature: Signature, lines: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Each row's outputs or error, in row order; rows of one shape run together, ``RUN_ROWS`` at a time."""
        rows = builtins.list(lines)
        fast = self._predict_uniform(backend, signature, rows)
        if fast is not None:
            yield from fast
            return
        specs = signature.inputs
        prepared: builtins.list[tuple[dict[str, Any], dict[str, np.ndarray] | None, str | None]] = []
        for line in rows:
            try:
                arrays = {spec.name: _row_array(line["inputs"][spec.name], spec.datatype, spec.shape) for spec in specs}
                prepared.append((line, arrays, None))
            except (ValueError, TypeError, KeyError) as exc:
                prepared.append((line, None, str(exc)))
        outputs: dict[int, dict[str, Any] | str] = {}
        groups: dict[tuple[object, ...], builtins.list[int]] = {}
        for i, (_, row_arrays, _) in enumerate(prepared):
            if row_arrays is not None:
                groups.setdefault(tuple((n, a.shape) for n, a in row_arrays.items()), []).append(i)
        for members in groups.values():
            for start in range(0, len(members), RUN_ROWS):
                chunk = members[start : start + RUN_ROWS]
                self._run_chunk(backend, signature, prepared, chunk, outputs)
        for i, (line, _, error) in enumerate(prepared):
            result = outputs.get(i, error)
            base = {"row": line["row"], "id": line["id"]}
            yield {**base, "outputs": result} if isinstance(result, dict) else {**base, "error": result or "not run"}

    def _predict_uniform(
        self, backend: Any, signature: Signature, rows: builtins.list[dict[str, Any]]
    ) -> builtins.list[dict[str, Any]] | None:
        """The common case, fast: every row fits, so each input converts at once and outputs leave as whole lists.

        None when some row does not fit (or the model fails on a chunk): then rows are checked and run one by one.
        """
        if not rows:
            return []
        try:
            stacked = {
                spec.name: _batch_array([row["inputs"][spec.name] for row in rows], spec.datatype, spec.shape)
                for spec in signature.inputs
            }
        except (ValueError, TypeError, KeyError):
            return None
        names = [spec.name for spec in signature.outputs]
        results: builtins.list[dict[str, Any]] = []
        for start in range(0, len(rows), RUN_ROWS):
            chunk = {name: array[start : start + RUN_ROWS] for name, array in stacked.items()}
            try:
                outputs = backend.run(chunk)
            except Exception:
                return None
            columns = {name: np.asarray(outputs[name]).tolist() for name in names}
            for offset, row in enumerate(rows[start : start + RUN_ROWS]):
                results.append(
                    {"row": row["row"], "id": row["id"], "outputs": {name: columns[name][offset] for name in names}}
                )
        return results

    def _run_chunk(
        self,
        backend: Any,
        signature: Signature,
        prepared: builtins.list[Any],
        chunk: builtins.list[int],
        outputs: dict[int, Any],
    ) -> None:
        feeds = {spec.name: np.stack([prepared[i][1][spec.name] for i in chunk]) for spec in signature.inputs}
        try:
            result = backend.run(feeds)
        except Exception as exc:
            if len(chunk) == 1:
                outputs[chunk[0]] = f"the model could not run on this row: {first_line(exc)}"
                return
            for i in chunk:  # isolate the row that breaks the run
                self._run_chunk(backend, signature, prepared, [i], outputs)
            return
        names = [spec.name for spec in signature.outputs]
        for position, i in enumerate(chunk):
            outputs[i] = {name: np.asarray(result[name][position]).tolist() for name in names}

    # --- assembly -------------------------------------------------------------------------------------------
    def _maybe_assemble(self, tenant_id: str, job_id: str) -> None:
        token, now = uuid.uuid4().hex, self.clock()
        if not self.store.claim_assembly(tenant_id, job_id, token, now, now - ASSEMBLY_STALE_SECONDS):
            return
        job = self.store.get_batch(tenant_id, job_id)
        assert job is not None
        self._assemble(job, token)

    def _assemble(self, job: BatchJob, token: str) -> None:
        prefix = outbox_prefix(job.tenant_id, job.job_id)
        bucket = self.settings.outbox_bucket
        assert job.total_shards is not None
        errors = list(parse_json_lines(self.blobs.iter_bytes(bucket, split_errors_key(job.tenant_id, job.job_id))))
        with tempfile.TemporaryDirectory(dir=self.settings.work_dir) as work:
            path = Path(work) / f"predictions.{job.format.value}"
            writer = PredictionWriter(job.format, path)
            for shard in range(job.total_shards):
                for result in parse_json_lines(
                    self.blobs.iter_bytes(bucket, result_key(job.tenant_id, job.job_id, shard))
                ):
                    if "error" in result:
                        errors.append(result)
                    else:
                        writer.write(result["id"], result["outputs"])
            writer.close()
            digest = hashlib.sha256()
            with path.open("rb") as written:
                for block in iter(lambda: written.read(1024 * 1024), b""):
                    digest.update(block)
            # the predictions go up from disk (multipart when large): the assembly's memory stays flat
            self.blobs.put_file(bucket, f"{prefix}/predictions.{job.format.value}", str(path))
        errors.sort(key=lambda e: int(e["row"]))
        error_lines = b"".join(json_line(e) for e in errors)
        finished = time.time()
        manifest = {
            "job_id": job.job_id,
            "model": job.model,
            "version": job.version,
            "format": job.format.value,
            "rows": job.total_rows,
            "rows_succeeded": writer.rows,
            "rows_failed": len(errors),
            "shards": job.total_shards,
            "created_at": job.created_at.isoformat(),
            "seconds": round(finished - job.created_at.timestamp(), 3),
            "sha256": {
                "predictions": digest.hexdigest(),
                "errors": hashlib.sha256(error_lines).hexdigest(),
            },
        }
        self.blobs.put(bucket, f"{prefix}/errors.jsonl", error_lines)
        self.blobs.put(bucket, f"{prefix}/manifest.json", json.dumps(manifest, indent=2).encode())
        if writer.rows == 0:
            status, error = BatchStatus.FAILED, "no row could be run; see errors.jsonl"
        else:
            status, error = (BatchStatus.PARTIAL if errors else BatchStatus.SUCCEEDED), None
        if self.store.finish_batch(job.tenant_id, job.job_id, token, status, manifest=manifest, error=error):
            self._announce(job, status, manifest, error)

    def _fail(self, job: BatchJob, reason: str, expect: tuple[BatchStatus, ...]) -> None:
        if self.store.fail_batch(job.tenant_id, job.job_id, reason, expect):
            logger.warning("batch job failed", extra={"job_id": job.job_id, "reason": reason})
            self.events.publish(
                "BatchJobFailed",
                BatchJobFailed(tenant_id=job.tenant_id, job_id=job.job_id, model=job.model, reason=reason),
            )
            self.store.mark_batch_announced(job.tenant_id, job.job_id)

    def _announce(self, job: BatchJob, status: BatchStatus, manifest: dict[str, Any], error: str | None) -> None:
        prefix = f"s3://{self.settings.outbox_bucket}/{outbox_prefix(job.tenant_id, job.job_id)}"
        if status == BatchStatus.FAILED:
            detail: Any = BatchJobFailed(
                tenant_id=job.tenant_id, job_id=job.job_id, model=job.model, reason=error or ""
            )
            self.events.publish("BatchJobFailed", detail)
        else:
            self.events.publish(
                "BatchJobCompleted",
                BatchJobCompleted(
                    tenant_id=job.tenant_id,
                    job_id=job.job_id,
                    model=job.model,
                    version=job.version or 0,
                    status=status.value,
                    rows=int(manifest["rows"] or 0),
                    rows_failed=int(manifest["rows_failed"]),
                    predictions=f"{prefix}/predictions.{job.format.value}",
                    errors=f"{prefix}/errors.jsonl",
                    manifest=f"{prefix}/manifest.json",
                ),
            )
        self.store.mark_batch_announced(job.tenant_id, job.job_id)


def _batch_array(values: list[Any], datatype: str, shape: list[int]) -> np.ndarray:
    """Rows of one input stacked along a new batch axis, checked against the input's shape (all or nothing)."""
    array = np.asarray(values, dtype=to_numpy(datatype)) if datatype != "BYTES" else np.asarray(values, dtype=object)
    expected = shape[1:]
    if array.ndim != len(expected) + 1 or any(
        d >= 0 and d != a for d, a in zip(expected, array.shape[1:], strict=True)
    ):
        raise ValueError("rows of different shapes")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError("NaN or infinite values")
    return array


def _row_array(value: Any, datatype: str, shape: list[int]) -> np.ndarray:
    """One row of an input (no batch axis), checked against the input's shape."""
    array = np.asarray(value, dtype=to_numpy(datatype)) if datatype != "BYTES" else np.asarray(value, dtype=object)
    expected = shape[1:]
    if array.ndim != len(expected) or any(d >= 0 and d != a for d, a in zip(expected, array.shape, strict=True)):
        raise ValueError(f"shape {list(array.shape)} does not fit the input's {expected} (per row)")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError("NaN or infinite values")
    return array
