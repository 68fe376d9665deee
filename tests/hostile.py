"""Hostile artifacts for the tests: the models an attacker with a ``publish`` key uploads.

Each is small and built here (nothing downloaded): ONNX models that read files through external data or take
memory, bundles with members that escape, and TorchScript modules that run whatever ``forward`` says.
"""

from __future__ import annotations

import io
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def gather_model(indices: TensorProto) -> onnx.ModelProto:
    """``y = Gather(data, indices)``: indices out of range make onnxruntime print them in its error."""
    data = numpy_helper.from_array(np.arange(3, dtype=np.float32), "data")
    graph = helper.make_graph(
        [helper.make_node("Gather", ["data", "idx"], ["y"]), helper.make_node("Add", ["y", "x"], ["z"])],
        "leak",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1])],
        [data, indices],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def external_indices(location: str) -> TensorProto:
    indices = TensorProto(name="idx", data_type=TensorProto.INT64, dims=[1], data_location=TensorProto.EXTERNAL)
    entry = indices.external_data.add()
    entry.key, entry.value = "location", location
    return indices


def bomb(floats: int) -> bytes:
    """A model of a few hundred bytes whose one node fills ``floats`` float32s when it runs.

    The shape depends on the input (``n`` is 0 or 1 in a smoke run), so onnxruntime cannot fold it at load.
    """
    shape = numpy_helper.from_array(np.array([floats], np.int64), "shape")
    fill = numpy_helper.from_array(np.array([1.0], np.float32))
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["shape", "n"], ["size"]),
            helper.make_node("ConstantOfShape", ["size"], ["big"], value=fill),
            helper.make_node("ReduceSum", ["big"], ["y"], keepdims=0),
        ],
        "bomb",
        [helper.make_tensor_value_info("n", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
        [shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def tar_of(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def member(name: str, data: bytes | None = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info, data


def bundle_of(model: onnx.ModelProto, data_name: str = "weights.bin") -> bytes:
    """``model.onnx`` with every initializer moved to ``data_name``, and that file: a bundle."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        onnx.save(model, f"{tmp}/model.onnx", save_as_external_data=True, location=data_name, size_threshold=0)
        return tar_of(
            [
                member("model.onnx", Path(f"{tmp}/model.onnx").read_bytes()),
                member(data_name, Path(f"{tmp}/{data_name}").read_bytes()),
            ]
        )


def script_forward(path: Path, source: str) -> Path:
    """A TorchScript module whose ``forward(x)`` runs ``source`` (indented body; ``x`` is a float tensor)."""
    import importlib.util

    import torch

    code = "import torch\n\n\nclass M(torch.nn.Module):\n    def forward(self, x):\n" + textwrap.indent(source, " " * 8)
    # torch.jit.script reads the class's source file: the module is written, imported, scripted, then removed
    path.parent.mkdir(parents=True, exist_ok=True)
    source_file = path.parent.parent / f"_source_{path.parent.name}.py"
    source_file.write_text(code)
    spec = importlib.util.spec_from_file_location(source_file.stem, source_file)
    assert spec is not None
    assert spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    torch.jit.save(torch.jit.script(loaded.M()), str(path))
    source_file.unlink()
    return path
