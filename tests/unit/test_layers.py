"""The Lambda layers' build: trimming, stripping symbol tables, and a template that agrees with the Makefiles."""

from __future__ import annotations

import importlib.util
import re
import shutil
import struct
import sys
import tomllib
from pathlib import Path

import pytest
import wrapt
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "layers"))  # trim.py and elf.py are scripts beside layers/Makefile

import elf  # noqa: E402
import trim  # noqa: E402

TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
RESOURCES = TEMPLATE["Resources"]
LAYERS = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::LayerVersion"}
FUNCTIONS = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}


def section_names(path: Path) -> set[str]:
    data = path.read_bytes()
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names = sections[shstrndx][4]
    return {data[names + s[0] : data.index(b"\0", names + s[0])].decode() for s in sections}


def test_stripping_keeps_an_extension_module_loadable(tmp_path: Path) -> None:
    # Given a compiled module as PyPI ships it (with its symbol table and debug sections)
    original = next(Path(wrapt.__file__).parent.glob("_wrappers.*.so"))
    copy = tmp_path / original.name
    shutil.copy(original, copy)
    assert ".symtab" in section_names(copy)
    # When its symbol tables are stripped
    saved = elf.strip_symbols(copy)
    # Then it is smaller by that, has no .symtab/.strtab/.debug_*, keeps .dynsym, and Python still loads it
    assert saved == original.stat().st_size - copy.stat().st_size > 0
    names = section_names(copy)
    assert {".symtab", ".strtab"}.isdisjoint(names)
    assert not any(n.startswith(".debug") for n in names)
    assert {".dynsym", ".dynstr", ".text"} <= names
    spec = importlib.util.spec_from_file_location("_wrappers", copy)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.ObjectProxy([1, 2]).__len__() == 2
    assert elf.strip_symbols(copy) == 0  # nothing left to strip


def test_files_that_are_not_elf_are_left_alone(tmp_path: Path) -> None:
    script = tmp_path / "libfake.so"
    script.write_bytes(b"#!/bin/sh\n" * 100)
    assert not elf.is_elf(script)
    assert elf.strip_symbols(script) == 0
    assert script.read_bytes() == b"#!/bin/sh\n" * 100


def test_trim_removes_what_no_function_imports_and_keeps_the_rest(tmp_path: Path) -> None:
    layer = tmp_path / "python"
    keep = [
        "numpy/__init__.py",
        "numpy/testing/__init__.py",
        "pyarrow/parquet/core.py",
        "pyarrow/libarrow.so.2600",
        "pyarrow/libarrow_python.so.2600",
        "numpy-2.4.6.dist-info/METADATA",
        "onnx/backend/base.py",
    ]
    drop = [
        "numpy/_core/tests/test_a.py",
        "numpy/f2py/__init__.py",
        "numpy/_core/include/numpy/x.h",
        "numpy/__init__.pyi",
        "numpy/_core/_simd.cpython-312-x86_64-linux-gnu.so",
        "bin/f2py",
        "pyarrow/libarrow_flight.so.2600",
        "pyarrow/_s3fs.cpython-312-x86_64-linux-gnu.so",
        "pyarrow/lib.pyx",
        "pyarrow/libarrow_python.so",
        "pyarrow/libarrow_python.so.2600.1.0",
        "onnx/backend/test/data/m.onnx",
        "pyarrow/__pycache__/x.cpython-312.pyc",
    ]
    for name in keep + drop:
        (layer / name).parent.mkdir(parents=True, exist_ok=True)
        (layer / name).write_bytes(b"x" * 10)
    saved = trim.trim(layer)
    left = sorted(str(p.relative_to(layer)) for p in layer.rglob("*") if p.is_file())
    assert left == sorted(keep)
    assert saved["files"] + saved["parts"] == 10 * len(drop)


def test_every_runtime_is_the_one_the_layers_are_built_for() -> None:
    makefile_version = re.search(r"^LAMBDA_PYTHON_VERSION := (\S+)", (ROOT / "layers" / "Makefile").read_text(), re.M)
    root_version = re.search(r"^LAMBDA_PYTHON_VERSION := (\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert makefile_version
    assert root_version
    runtime = f"python{makefile_version[1]}"
    assert root_version[1] == makefile_version[1]
    assert TEMPLATE["Globals"]["Function"]["Runtime"] == runtime
    assert all("Runtime" not in f["Properties"] for f in FUNCTIONS.values())  # no function overrides it
    for layer in LAYERS.values():
        assert layer["Properties"]["CompatibleRuntimes"] == [runtime]


def test_every_layer_is_built_by_layers_makefile_from_its_requirements() -> None:
    makefile = (ROOT / "layers" / "Makefile").read_text()
    with (ROOT / "pyproject.toml").open("rb") as f:
        declared = set(tomllib.load(f)["tool"]["maas"]["layers"]) - {"lambda-runtime"}
    folders = set()
    for name, layer in LAYERS.items():
        assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "x86_64", "ContextPath": "layers"}
        assert re.search(rf"^build-{name}:", makefile, re.M), f"layers/Makefile has no build-{name} target"
        folder = Path(layer["Properties"]["ContentUri"])
        assert (ROOT / folder / "requirements.txt").is_file()
        folders.add(folder.name)
    assert folders == declared


# Which function gets which layer (Globals give every function CoreLayer): onnxruntime where a model runs, onnx
# only where quantization runs, pyarrow only where Parquet is read or written.
EXPECTED_LAYERS = {
    "InferenceFunction": ["OnnxRuntimeLayer"],
    "ShadowFunction": ["OnnxRuntimeLayer"],
    "OptimizeFunction": ["OnnxRuntimeLayer", "OnnxLayer"],
    "CpuJobsFunction": ["OnnxRuntimeLayer"],
    "ValidateModelFunction": ["OnnxRuntimeLayer"],
    "BatchSplitFunction": ["BatchLayer"],
    "BatchWorkerFunction": ["OnnxRuntimeLayer", "BatchLayer"],
}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_function_gets_the_layers_it_imports_and_no_more(function: str) -> None:
    assert TEMPLATE["Globals"]["Function"]["Layers"] == [{"Ref": "CoreLayer"}]
    layers = [ref["Ref"] for ref in FUNCTIONS[function]["Properties"].get("Layers", [])]
    assert layers == EXPECTED_LAYERS.get(function, [])
