"""The worker's backends on CUDA. Skipped where no GPU is reachable (CI); run them on a GPU machine:
``.venv/bin/python -m pytest tests/unit/test_gpu_backends.py`` after ``pip install -e .[gpu]``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from maas.backends.loader import cuda_available, torch_cuda_available
from maas.backends.onnx import load_onnx
from maas.backends.torchscript import load_torchscript
from maas.domain import Signature
from maas.worker.batcher import DynamicBatcher

pytestmark = pytest.mark.skipif(not cuda_available(), reason="no CUDA device here")


@pytest.mark.skipif(not torch_cuda_available(), reason="torch has no CUDA device here")
def test_torchscript_runs_on_cuda_and_matches_cpu(tmp_path: Path) -> None:
    import torch

    from maas.modelkit import export_torchscript_mlp

    signature = Signature.model_validate(export_torchscript_mlp(tmp_path / "m.pt", [64, 256, 10]))
    gpu = load_torchscript(str(tmp_path / "m.pt"), signature)
    cpu = load_torchscript(str(tmp_path / "m.pt"), signature, use_cuda=False)
    assert (gpu.device, cpu.device) == ("cuda", "cpu")
    x = np.random.default_rng(0).standard_normal((33, 64)).astype(np.float32)
    np.testing.assert_allclose(gpu.run({"input": x})["logits"], cpu.run({"input": x})["logits"], rtol=1e-3, atol=1e-4)
    assert torch.cuda.memory_allocated() > 0


def test_onnx_uses_the_cuda_execution_provider_when_present(tmp_path: Path) -> None:
    import onnxruntime

    from maas.modelkit import export_mlp

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime here has no CUDA provider (the gpu extra installs onnxruntime-gpu)")
    path = export_mlp(tmp_path / "m.onnx", [64, 256, 10])
    gpu, cpu = load_onnx(str(path)), load_onnx(str(path), use_cuda=False)
    assert (gpu.device, cpu.device) == ("cuda", "cpu")
    x = np.random.default_rng(1).standard_normal((17, 64)).astype(np.float32)
    np.testing.assert_allclose(gpu.run({"input": x})["logits"], cpu.run({"input": x})["logits"], rtol=1e-3, atol=1e-4)


@pytest.mark.skipif(not torch_cuda_available(), reason="torch has no CUDA device here")
def test_dynamic_batching_on_cuda_gives_each_request_its_rows(tmp_path: Path) -> None:
    from maas.modelkit import export_torchscript_mlp

    signature = Signature.model_validate(export_torchscript_mlp(tmp_path / "m.pt", [64, 128, 4]))
    backend = load_torchscript(str(tmp_path / "m.pt"), signature)
    batcher = DynamicBatcher(backend.run, max_batch_size=32, max_queue_delay_ms=2)
    rows = np.random.default_rng(2).standard_normal((100, 64)).astype(np.float32)
    futures = [batcher.submit({"input": rows[i : i + 1]}) for i in range(100)]
    whole = backend.run({"input": rows})["logits"]
    for i, future in enumerate(futures):
        np.testing.assert_allclose(future.result(30)["logits"], whole[i : i + 1], rtol=1e-3, atol=1e-4)
    batcher.close()
    assert batcher.stats.batches < 100
