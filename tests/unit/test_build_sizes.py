"""The size report over a `sam build` folder: sizes, the limit, packages twice, requirements no layer meets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maas.deployment.artifacts import BuildError, folder_bytes, read_build, stale_sources
from maas.deployment.sizes import MB, main, measure


def dist(layer: Path, name: str, version: str, *requires: str, size: int = 0) -> None:
    """A distribution in a layer's python/ folder: its package (``size`` bytes) and its metadata."""
    package = layer / "python" / name.replace("-", "_")
    package.mkdir(parents=True)
    (package / "__init__.py").write_bytes(b"#" * size)
    info = layer / "python" / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    lines = [f"Name: {name}", f"Version: {version}", *(f"Requires-Dist: {r}" for r in requires)]
    (info / "METADATA").write_text("\n".join(lines) + "\n")


def build(tmp_path: Path, functions: dict[str, list[str]]) -> Path:
    """A build folder whose functions use the given layers (CoreLayer from Globals), as `sam build` writes it."""
    resources: dict = {}
    for name, layers in functions.items():
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "app.py").write_text("def lambda_handler(event, context): ...\n")
        props = {"CodeUri": name, "Handler": "app.lambda_handler"}
        if layers:
            props["Layers"] = [{"Ref": layer} for layer in layers]
        resources[name] = {"Type": "AWS::Serverless::Function", "Properties": props}
    for layer in {"CoreLayer"} | {layer for layers in functions.values() for layer in layers}:
        (tmp_path / layer / "python").mkdir(parents=True, exist_ok=True)
        resources[layer] = {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": layer}}
    globals_ = {"Function": {"Runtime": "python3.12", "Layers": [{"Ref": "CoreLayer"}]}}
    template = {"Transform": "AWS::Serverless-2016-10-31", "Globals": globals_, "Resources": resources}
    (tmp_path / "template.yaml").write_text(json.dumps(template))
    return tmp_path


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    folder = tmp_path / "runtime"
    dist(folder, "boto3", "1.44.5", "botocore<1.45,>=1.44.5")
    dist(folder, "botocore", "1.44.8")
    return folder / "python"


def test_each_function_is_its_code_plus_its_layers(tmp_path: Path, runtime: Path) -> None:
    folder = build(tmp_path / "build", {"Api": [], "Infer": ["OrtLayer"]})
    dist(folder / "CoreLayer", "numpy", "2.4.6", size=3 * MB)
    dist(folder / "OrtLayer", "onnxruntime", "1.31.1", "numpy>=1.21.6", "boto3; extra == 'aws'", size=5 * MB)
    report = measure(read_build(folder), runtime, limit_mb=230)
    api, infer = report["functions"]["Api"], report["functions"]["Infer"]
    assert api["layers"] == ["CoreLayer"]
    assert infer["layers"] == ["CoreLayer", "OrtLayer"]  # Globals first, as SAM merges them
    core, ort = folder_bytes(folder / "CoreLayer"), folder_bytes(folder / "OrtLayer")
    assert infer["total_bytes"] == folder_bytes(folder / "Infer") + core + ort
    assert api["total_bytes"] == folder_bytes(folder / "Api") + core
    assert core > 3 * MB
    assert ort > 5 * MB
    assert infer["total_mb"] == 8.0
    assert report["ok"]
    assert report["max_mb"] == infer["total_mb"]


def test_over_the_limit_fails_and_the_json_line_comes_last(
    tmp_path: Path, runtime: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = build(tmp_path / "build", {"Big": ["BatchLayer"], "Small": []})
    dist(folder / "BatchLayer", "pyarrow", "26.0.1", size=2 * MB)
    assert main([str(folder), "--limit-mb", "1.5", "--runtime-dir", str(runtime)]) == 1
    lines = capsys.readouterr().out.splitlines()
    figures = json.loads(lines[-1])
    assert figures["ok"] is False
    assert figures["functions"]["Big"]["problems"] == [
        f"{figures['functions']['Big']['total_mb']} MB is over the 1.5 MB limit"
    ]
    assert figures["functions"]["Small"]["problems"] == []
    assert any(line.startswith("Big ") for line in lines[:-1])  # the table before it


def test_a_package_in_two_of_a_functions_layers_is_reported(tmp_path: Path, runtime: Path) -> None:
    folder = build(tmp_path / "build", {"Infer": ["OrtLayer"]})
    dist(folder / "CoreLayer", "numpy", "2.4.6")
    dist(folder / "OrtLayer", "numpy", "2.4.6")
    problems = measure(read_build(folder), runtime, limit_mb=230)["functions"]["Infer"]["problems"]
    assert "numpy is in both CoreLayer and OrtLayer" in problems


def test_requirements_that_no_layer_nor_the_runtime_meets_are_reported(tmp_path: Path, runtime: Path) -> None:
    folder = build(tmp_path / "build", {"Api": [], "Optimize": ["OnnxLayer"]})
    dist(folder / "CoreLayer", "aws-xray-sdk", "2.15.0", "wrapt", "botocore>=1.11.3")  # botocore: the runtime's
    dist(folder / "OnnxLayer", "onnx", "1.23.2", "protobuf>=6.31.1", "wrapt>=9; python_version < '3.0'")
    report = measure(read_build(folder), runtime, limit_mb=230)
    assert report["functions"]["Api"]["problems"] == ["aws-xray-sdk needs wrapt, which none of its layers holds"]
    assert report["functions"]["Optimize"]["problems"] == [
        "aws-xray-sdk needs wrapt, which none of its layers holds",
        "onnx needs protobuf>=6.31.1, which none of its layers holds",
    ]


def test_a_too_old_version_is_reported(tmp_path: Path, runtime: Path) -> None:
    folder = build(tmp_path / "build", {"Api": []})
    dist(folder / "CoreLayer", "pydantic", "2.13.5", "pydantic-core==2.46.5")
    dist(folder / "CoreLayer", "pydantic-core", "2.46.4")
    problems = measure(read_build(folder), runtime, limit_mb=230)["functions"]["Api"]["problems"]
    assert problems == ["pydantic needs pydantic-core==2.46.5; the layers hold pydantic-core 2.46.4"]


def test_a_folder_that_is_no_build_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="run `make build`"):
        read_build(tmp_path)
    assert main([str(tmp_path)]) == 2


def test_a_layer_holding_what_the_runtime_provides_is_reported(tmp_path: Path, runtime: Path) -> None:
    folder = build(tmp_path / "build", {"Api": []})
    dist(folder / "CoreLayer", "botocore", "1.44.8")
    problems = measure(read_build(folder), runtime, limit_mb=230)["functions"]["Api"]["problems"]
    assert problems == ["botocore is in CoreLayer, but the Lambda runtime provides it"]


def test_sources_changed_since_the_build_are_named(tmp_path: Path) -> None:
    import os

    (tmp_path / "template.yaml").write_text("{}")
    (tmp_path / "shared" / "maas").mkdir(parents=True)
    (tmp_path / "shared" / "maas" / "registry.py").write_text("")
    (tmp_path / "functions" / "inference").mkdir(parents=True)
    (tmp_path / "functions" / "inference" / "app.py").write_text("")
    folder = build(tmp_path / ".aws-sam" / "build", {"Api": []})
    for path in [tmp_path / "template.yaml", *tmp_path.glob("*/**/*.py")]:
        os.utime(path, (1_000_000, 1_000_000))  # older than the build
    assert stale_sources(folder) == []
    os.utime(tmp_path / "shared" / "maas" / "registry.py")  # edited now
    assert stale_sources(folder) == [tmp_path / "shared" / "maas" / "registry.py"]
