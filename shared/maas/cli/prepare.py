"""Making an exported ONNX model uploadable: its external weights inlined, or bundled when it is too large.

The platform never loads external data (a tenant's model must not name files that are not its own), yet
``torch.onnx.export`` writes ``model.onnx`` plus ``model.onnx.data`` by default. On the user's own machine the
CLI (and ``MaasClient.register``) therefore folds the data back in before upload: a model under protobuf's 2 GB
becomes one self-contained ``.onnx``; a larger one becomes a bundle (a tar of ``model.onnx`` and its data
files, which validation unpacks into the version's private directory).

    prepared = prepare_onnx(Path("model.onnx"), workdir)
    print(prepared.note)        # "inlined 3 tensors from model.onnx.data (12.5 MB) ..."
    upload(prepared.path)
"""

from __future__ import annotations

import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path

from maas.backends.bundle import ENTRY
from maas.backends.onnx_proto import OnnxProtoError, external_tensors

PROTOBUF_LIMIT = 2 * 1024**3 - 64 * 1024**2  # under 2 GiB, with room for the graph itself


class PrepareError(ValueError):
    """The model cannot be made uploadable as it is; the message says what to do."""


@dataclass(frozen=True)
class Prepared:
    path: Path
    note: str | None = None  # what was done, for the user; None when the file went up as it was


def _data_files(model_path: Path) -> dict[str, int]:
    """The files the model's external data names (relative to the model's directory), with their sizes."""
    with open(model_path, "rb") as f:
        try:
            refs = external_tensors(f.read())
        except OnnxProtoError as exc:
            raise PrepareError(f"{model_path.name} is not a well-formed ONNX model ({exc})") from exc
    files: dict[str, int] = {}
    for ref in refs:
        location = ref.location
        if not location:
            raise PrepareError(f"tensor '{ref.name}' is marked external but names no file")
        name = posixpath.normpath(location)
        if name.startswith(("/", "../")) or name == "..":
            raise PrepareError(f"tensor '{ref.name}' names {location!r}, outside the model's directory")
        data_path = model_path.parent / name
        if not data_path.is_file():
            raise PrepareError(
                f"{model_path.name} keeps the weights of tensor '{ref.name}' in {location!r}, which is not beside "
                f"it in {model_path.parent}: copy that file next to the model (as the exporter wrote them), or "
                "export with the weights inside (torch.onnx.export(..., external_data=False))"
            )
        files[name] = data_path.stat().st_size
    return files


def prepare_onnx(model_path: Path, workdir: Path) -> Prepared:
    """The file to upload for ``model_path``: itself, a copy with its weights inlined, or a bundle."""
    files = _data_files(model_path)
    if not files:
        return Prepared(model_path)
    data_bytes = sum(files.values())
    listed = ", ".join(sorted(files))
    if model_path.stat().st_size + data_bytes < PROTOBUF_LIMIT:
        import onnx  # the CLI's environment has it (the cpu extra); only models with external data need it

        model = onnx.load(str(model_path), load_external_data=True)
        inlined = workdir / model_path.name
        onnx.save_model(model, str(inlined), save_as_external_data=False)
        return Prepared(
            inlined,
            f"inlined the weights from {listed} ({data_bytes / 1e6:.1f} MB) into the uploaded model: the platform "
            "never loads external data",
        )
    bundle = workdir / f"{model_path.stem}.tar"
    with tarfile.open(bundle, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        archive.add(str(model_path), arcname=ENTRY, recursive=False)
        for name in sorted(files):
            archive.add(str(model_path.parent / name), arcname=name, recursive=False)
    return Prepared(
        bundle,
        f"the model and its data ({listed}, {data_bytes / 1e9:.2f} GB) are over protobuf's 2 GB: uploading them "
        f"as one bundle ({bundle.name})",
    )
