"""The Lambda layers' requirements come from pyproject.toml's pins, and each package lives in one layer."""

from __future__ import annotations

import pytest

from maas.deployment.requirements import ROOT, PinError, layer_requirements, main, pins


def project(dependencies: list[str], layers: dict[str, list[str]], **extras: list[str]) -> dict:
    return {
        "project": {"name": "maas", "dependencies": dependencies, "optional-dependencies": extras},
        "tool": {"maas": {"layers": layers}},
    }


def test_the_committed_requirement_files_are_what_pyproject_pins() -> None:
    assert main(["--check", "--root", str(ROOT)]) == 0


def test_check_names_a_stale_file(tmp_path, capsys) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "maas"\ndependencies = ["numpy==2.4.6"]\n[tool.maas.layers]\ncore = ["numpy"]\n'
    )
    (tmp_path / "layers" / "core").mkdir(parents=True)
    (tmp_path / "layers" / "core" / "requirements.txt").write_text("numpy==2.4.5\n")
    assert main(["--check", "--root", str(tmp_path)]) == 1
    assert "layers/core/requirements.txt" in capsys.readouterr().err
    assert main(["--root", str(tmp_path)]) == 0
    assert (tmp_path / "layers" / "core" / "requirements.txt").read_text().splitlines()[1:] == ["numpy==2.4.6"]


def test_versions_come_from_dependencies_and_extras_by_canonical_name() -> None:
    found = pins(project(["Typing_Extensions==4.16.0", "boto3>=1"], {}, cpu=["onnxruntime==1.31.1", "maas[cpu]"]))
    assert found == {"typing-extensions": "4.16.0", "onnxruntime": "1.31.1"}
    layers = layer_requirements(project(["numpy==2.4.6"], {"core": ["NumPy"]}))
    assert layers == {"core": ["numpy==2.4.6"]}


@pytest.mark.parametrize(
    ("dependencies", "layers", "message"),
    [
        (["numpy==2.4.6"], {"core": ["numpy"], "onnxruntime": ["numpy"]}, "in both the core and the onnxruntime"),
        (["numpy>=2"], {"core": ["numpy"]}, "holds numpy, which pyproject.toml does not pin"),
        (["numpy==2.4.6", "numpy==2.4.5"], {"core": ["numpy"]}, "pinned to both"),
    ],
)
def test_a_layer_package_pinned_ambiguously_or_twice_is_refused(dependencies, layers, message) -> None:
    with pytest.raises(PinError, match=message):
        layer_requirements(project(dependencies, layers))
