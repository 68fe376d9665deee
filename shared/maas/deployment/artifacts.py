"""What ``sam build`` made: each function's code folder and the layers it gets, read from the built template.

The built template (``.aws-sam/build/template.yaml``) is the source one with every CodeUri and ContentUri
pointing at a built folder. A function gets the layers of ``Globals.Function.Layers`` and then its own, as
SAM merges them; each layer's packages lie under its ``python/`` folder, as Lambda unpacks them into /opt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

FUNCTION = "AWS::Serverless::Function"
LAYER = "AWS::Serverless::LayerVersion"
# What a build is made from, relative to the project that holds .aws-sam/build
SOURCES = ("template.yaml", "pyproject.toml", "functions", "layers", "shared/maas")


class BuildError(ValueError):
    """The build folder is not a usable ``sam build`` output."""


@dataclass(frozen=True)
class Layer:
    logical_id: str
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "python"


@dataclass(frozen=True)
class Function:
    logical_id: str
    runtime: str
    code: Path
    layers: tuple[Layer, ...]


def read_build(build_dir: Path) -> list[Function]:
    """The functions of the built template, in template order."""
    from samtranslator.yaml_helper import yaml_parse

    template_path = build_dir / "template.yaml"
    if not template_path.is_file():
        raise BuildError(f"no {template_path}: run `make build` (or `sam build`) first")
    template: dict[str, Any] = yaml_parse(template_path.read_text())
    resources: dict[str, Any] = template.get("Resources", {})
    layers = {
        name: Layer(name, (build_dir / res["Properties"]["ContentUri"]).resolve())
        for name, res in resources.items()
        if res.get("Type") == LAYER
    }
    defaults = template.get("Globals", {}).get("Function", {})
    functions = []
    for name, res in resources.items():
        if res.get("Type") != FUNCTION:
            continue
        props = res.get("Properties", {})
        refs = [*defaults.get("Layers", []), *props.get("Layers", [])]
        missing = [r for r in refs if not (isinstance(r, dict) and r.get("Ref") in layers)]
        if missing:
            raise BuildError(f"{name} uses layers that are not built here: {missing}")
        functions.append(
            Function(
                logical_id=name,
                runtime=str(props.get("Runtime", defaults.get("Runtime", ""))),
                code=(build_dir / props["CodeUri"]).resolve(),
                layers=tuple(layers[r["Ref"]] for r in refs),
            )
        )
    return functions


def stale_sources(build_dir: Path) -> list[Path]:
    """Source files changed since ``sam build`` wrote ``build_dir`` (a project's ``.aws-sam/build``)."""
    project, built = build_dir.resolve().parent.parent, build_dir / "template.yaml"
    if not (project / "template.yaml").is_file() or not built.is_file():
        return []
    since = built.stat().st_mtime
    newer = []
    for name in SOURCES:
        path = project / name
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        newer += [p for p in files if "__pycache__" not in p.parts and p.stat().st_mtime > since]
    return newer


def folder_bytes(path: Path) -> int:
    """What the folder unzips to: the sizes of its files (links counted as what they point at)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _distributions(folder: Path) -> dict[str, tuple[Version, list[str]]]:
    """Canonical name -> (version, Requires-Dist lines) of each ``*.dist-info`` in ``folder``."""
    from email.parser import HeaderParser

    found: dict[str, tuple[Version, list[str]]] = {}
    for meta in folder.glob("*.dist-info/METADATA"):
        headers = HeaderParser().parsestr(meta.read_text(encoding="utf-8", errors="replace"))
        requires = headers.get_all("Requires-Dist") or []
        found[canonicalize_name(headers["Name"])] = (Version(headers["Version"]), requires)
    return found


def overlaps(function: Function) -> list[str]:
    """Paths that two of the function's layers both hold (Lambda would let the later layer win silently)."""
    owner: dict[Path, str] = {}
    clashes = []
    for layer in function.layers:
        if not layer.python.is_dir():
            continue
        for entry in sorted(layer.python.iterdir()):
            relative = entry.relative_to(layer.python)
            if entry.name == "__pycache__":
                continue
            if relative in owner:
                clashes.append(f"{relative} is in both {owner[relative]} and {layer.logical_id}")
            owner[relative] = layer.logical_id
    return clashes


def runtime_duplicates(function: Function, provided: Path) -> list[str]:
    """Packages that a layer holds although the Lambda runtime provides them (botocore, pulled in by a dependency)."""
    ours = set(_distributions(provided))
    return [
        f"{name} is in {layer.logical_id}, but the Lambda runtime provides it"
        for layer in function.layers
        for name in sorted(set(_distributions(layer.python)) & ours)
    ]


def unmet_requirements(function: Function, provided: Path, python_version: str) -> list[str]:
    """Requirements of the function's packages that neither its layers nor the runtime (``provided``) meet."""
    installed: dict[str, tuple[Version, list[str]]] = {}
    for folder in [*(layer.python for layer in function.layers), provided]:
        installed.update(_distributions(folder))
    # The Lambda runtime's markers, whatever this host is
    environment = {k: str(v) for k, v in default_environment().items()}
    environment.update(python_version=python_version, python_full_version=f"{python_version}.0")
    environment.update(sys_platform="linux", platform_system="Linux", platform_machine="x86_64")
    environment.update(implementation_name="cpython", platform_python_implementation="CPython")
    problems = []
    for name, (_, requires) in sorted(installed.items()):
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({**environment, "extra": ""}):
                continue
            needed = canonicalize_name(requirement.name)
            if needed not in installed:
                problems.append(f"{name} needs {requirement}, which none of its layers holds")
            elif not requirement.specifier.contains(installed[needed][0], prereleases=True):
                problems.append(f"{name} needs {requirement}; the layers hold {needed} {installed[needed][0]}")
    return problems
