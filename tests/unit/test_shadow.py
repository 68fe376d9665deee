"""Shadow samples: made off the request path, run once, compared, counted once."""

from __future__ import annotations

import json

import numpy as np

from maas.domain import Scope
from maas.domain.aliases import AliasTarget, Route, Shadow
from maas.inference.cache import ModelCache
from maas.inference.service import InferenceService, VersionResolver
from maas.inference.shadow import MAX_MESSAGE_BYTES, ShadowRunner, make_sample, outputs_agree

from tests.fakes import RecordingQueue
from tests.unit.factories import principal
from tests.unit.test_inference_service import BUCKET, ready_version


def test_agreement_rules() -> None:
    logits = np.array([[0.1, 0.9], [0.8, 0.2]], dtype=np.float32)
    assert outputs_agree(logits, logits * 2)  # same top-1 in every row
    assert not outputs_agree(logits, logits[:, ::-1])
    assert outputs_agree(np.array([1.0, 2.0]), np.array([1.0, 2.0001]))
    assert not outputs_agree(np.array([1.0, 2.0]), np.array([1.0, 2.1]))
    assert not outputs_agree(np.zeros((2, 2)), np.zeros((3, 2)))
    assert outputs_agree(np.array([1, 2]), np.array([1, 2]))


def test_oversized_requests_are_not_shadowed() -> None:
    body = "x" * MAX_MESSAGE_BYTES
    assert (
        make_sample(
            tenant_id="t",
            model="m",
            alias="a",
            primary_version=1,
            shadow_version=2,
            body=body,
            header_length=None,
            outputs={},
            primary_ms=1.0,
        )
        is None
    )


def test_sampled_requests_run_once_on_the_shadow(store, blobs, mlp_onnx, tmp_path) -> None:
    from maas.aliases import Aliases
    from maas.modelkit import export_mlp

    ready_version(store, blobs, "acme", "tiny", mlp_onnx)
    ready_version(store, blobs, "acme", "tiny", export_mlp(tmp_path / "v2.onnx", [16, 4], seed=9).read_bytes())
    Aliases(store, store).set(
        principal("acme", Scope.PUBLISH),
        "tiny",
        "live",
        AliasTarget(routes=[Route(version=1, weight=100)], shadow=Shadow(version=2, sample_rate=1.0)),
    )
    queue = RecordingQueue()
    resolver = VersionResolver(store, 0, aliases=store)
    cache = ModelCache(blobs, BUCKET, tmp_path / "cache", 10**7)
    service = InferenceService(resolver, cache, shadow_queue=queue)
    body = json.dumps({"inputs": [{"name": "input", "shape": [2, 16], "datatype": "FP32", "data": [0.5] * 32}]})

    answer = json.loads(service.infer(principal("acme", Scope.INVOKE), "tiny", "live", body, None)[0])

    assert answer["model_version"] == "1"
    (message,) = queue.messages
    runner = ShadowRunner(resolver, cache, store)
    assert runner.run(message) is True
    assert runner.run(message) is False  # a duplicate delivery is counted once
    stats = store.get_shadow_stats("acme", "tiny", "live", 2)
    assert stats["samples"] == 1
    assert stats["errors"] == 0
    # no shadow, no message
    service.infer(principal("acme", Scope.INVOKE), "tiny", "1", body, None)
    assert len(queue.messages) == 1
