"""Small torch models exported to ONNX, for the demo, the tests and the benchmarks. Needs torch (extra ``dev``).

Nothing is downloaded: models are built here, and the demo trains on scikit-learn's bundled digits.
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path
from typing import Any


def export_onnx(
    module: Any, example: Any, path: str | Path, *, input_names: list[str], output_names: list[str]
) -> Path:
    """Export ``module`` with a free batch dimension on every input and output.

    Uses the TorchScript-based exporter: a fraction of a second for these models, against seconds for the
    torch.export-based one, and the same ONNX for plain feed-forward networks.
    """
    import torch

    path = Path(path)
    module.eval()
    examples = example if isinstance(example, tuple) else (example,)
    dynamic_axes = {name: {0: "batch"} for name in [*input_names, *output_names]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            examples,
            str(path),
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            dynamo=False,
        )
    return path


def mlp(sizes: list[int], seed: int = 0) -> Any:
    """A ReLU multilayer perceptron with the given layer sizes, e.g. ``[16, 32, 4]``."""
    import torch

    torch.manual_seed(seed)
    layers: list[Any] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def export_mlp(path: str | Path, sizes: list[int], seed: int = 0) -> Path:
    """An MLP exported to ONNX with input ``input`` [-1, sizes[0]] and output ``logits`` [-1, sizes[-1]]."""
    import torch

    return export_onnx(mlp(sizes, seed), torch.zeros(1, sizes[0]), path, input_names=["input"], output_names=["logits"])


def train_digits_classifier(seed: int = 0, epochs: int = 30) -> tuple[Any, Any, Any]:
    """Train an MLP on scikit-learn's bundled 8x8 digits; returns (model, held-out X, held-out y).

    A few seconds on one CPU core; about 97 % held-out accuracy.
    """
    import numpy as np
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)
    model = mlp([64, 128, 64, 10], seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    generator = torch.Generator().manual_seed(seed)
    # Batches this small run fastest on one thread; more threads only contend with the local runtime.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(xt), generator=generator)
            for start in range(0, len(xt), 64):
                batch = order[start : start + 64]
                optimiser.zero_grad()
                loss_fn(model(xt[batch]), yt[batch]).backward()
                optimiser.step()
        model.eval()
    finally:
        torch.set_num_threads(threads)
    return model, x_test, y_test


def export_slow_model(path: str | Path, width: int = 256, depth: int = 1000, seed: int = 0) -> Path:
    """A small file that takes long to run: one ``width``x``width`` weight applied ``depth`` times.

    The weight is shared, so the file stays about ``4 * width**2`` bytes while each row costs
    ``2 * depth * width**2`` operations: what the tests need to catch a worker in the middle of a job.
    Built with ``onnx.helper`` (instant; torch's exporter takes seconds per hundred layers).
    Input ``input`` [-1, width] FP32, output ``output`` [-1, width].
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weight = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
    nodes = []
    current = "input"
    for i in range(depth):
        nodes.append(helper.make_node("MatMul", [current, "weight"], [f"m{i}"]))
        current = "output" if i == depth - 1 else f"t{i}"
        nodes.append(helper.make_node("Tanh", [f"m{i}"], [current]))
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", width])],
        initializer=[numpy_helper.from_array(weight, "weight")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path


def export_torchscript_mlp(path: str | Path, sizes: list[int], seed: int = 0) -> dict[str, Any]:
    """An MLP saved with ``torch.jit.save`` (scripted); returns the signature to declare when registering it."""
    import torch

    module = torch.jit.script(mlp(sizes, seed).eval())
    torch.jit.save(module, str(path))
    return {
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, sizes[0]]}],
        "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, sizes[-1]]}],
    }
