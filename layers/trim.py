"""Trims a Lambda layer after pip has installed it: what the functions never import goes.

Run by ``layers/Makefile`` with the layer's ``python/`` folder. Lambda refuses a function whose code and layers
unzip to more than 262,144,000 bytes, and the batch worker holds numpy, onnxruntime and pyarrow together, so
every layer loses, after the install:

- test suites, C/C++/Cython sources and headers, static libraries, type stubs, console scripts;
- per package, the parts that this platform never loads (``PACKAGE_PARTS``; each says why);
- the symbol tables of shared libraries (``elf.strip_symbols``): the dynamic loader never reads them.

What stays is checked by importing it: the end-to-end tests run every function from the built layers.
Standard library only: it runs on whatever Python the build host has (macOS included).
"""

from __future__ import annotations

import argparse
import fnmatch
import shutil
import sys
from pathlib import Path

import elf  # beside this script, which Python puts first on sys.path

# Anywhere in a layer: never imported at run time.
GENERIC_DIRS = ("tests", "test", "__pycache__", "include")
GENERIC_FILES = ("*.pyx", "*.pxd", "*.pxi", "*.pyi", "*.h", "*.hpp", "*.c", "*.cc", "*.cpp", "*.cu", "*.a")

# Relative to the layer's python/ folder (glob patterns).
PACKAGE_PARTS = {
    # Console scripts (f2py, numpy-config, onnxruntime_test, ...): a function runs no command.
    "bin": ("bin",),
    # f2py compiles Fortran, the test modules and _simd exist for numpy's own test suite; _core/lib holds the
    # static npymath library and pkg-config files for building extensions.
    "numpy": (
        "numpy/f2py",
        "numpy/_pyinstaller",
        "numpy/_core/lib",
        "numpy/_core/_simd.*.so",
        "numpy/_core/_*_tests.*.so",
    ),
    # Flight (RPC), the cloud and HDFS filesystems and the C++ test module: Parquet is read from /tmp and
    # written to a local file, then moved by boto3. pyarrow.fs imports each optional filesystem in a try.
    # The unversioned and full-version copies of libarrow_python* are duplicates (wheels hold no symlinks):
    # the extension modules link the SONAME (.so.NNNN).
    "pyarrow": (
        "pyarrow/libarrow_flight.so*",
        "pyarrow/_flight.*.so",
        "pyarrow/flight.py",
        "pyarrow/libarrow_python_flight.so*",
        "pyarrow/libarrow_s3.so*",
        "pyarrow/_s3fs.*.so",
        "pyarrow/_gcsfs.*.so",
        "pyarrow/_azurefs.*.so",
        "pyarrow/_hdfs.*.so",
        "pyarrow/_pyarrow_cpp_tests.*.so",
        "pyarrow/libarrow_python.so",
        "pyarrow/libarrow_python.so.*.*.*",
        "pyarrow/libarrow_python_parquet_encryption.so",
        "pyarrow/libarrow_python_parquet_encryption.so.*.*.*",
        "pyarrow/src",
    ),
    # onnx's backend test data (17 MB of models) serves onnx's test suite only.
    "onnx": ("onnx/backend/test",),
    # The datasets are sample models; backend/ is the ONNX backend-test adapter; tools/ converts and profiles
    # models offline (quantize_dynamic imports none of it). transformers/ stays: onnxruntime.quantization imports
    # its float16 and onnx_model modules.
    "onnxruntime": ("onnxruntime/datasets", "onnxruntime/backend", "onnxruntime/tools"),
}


def _remove(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        size = path.lstat().st_size
        path.unlink()
        return size
    if path.is_dir():
        size = sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir())
        shutil.rmtree(path)
        return size
    return 0


def trim(root: Path) -> dict[str, int]:
    """Remove what no function imports; returns bytes saved by kind."""
    saved = {"files": 0, "parts": 0, "symbols": 0}
    for patterns in PACKAGE_PARTS.values():
        for pattern in patterns:
            for path in sorted(root.glob(pattern)):
                saved["parts"] += _remove(path)
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts)):
        if not path.exists() or path.is_symlink():
            continue
        unused_dir = path.is_dir() and path.name in GENERIC_DIRS and not path.parent.name.endswith(".dist-info")
        if unused_dir or (path.is_file() and any(fnmatch.fnmatch(path.name, p) for p in GENERIC_FILES)):
            saved["files"] += _remove(path)
    for path in sorted(root.rglob("*.so*")):
        if path.is_file() and not path.is_symlink() and elf.is_elf(path):
            saved["symbols"] += elf.strip_symbols(path)
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layer", type=Path, help="the layer's python/ folder")
    args = parser.parse_args(argv)
    if not args.layer.is_dir():
        parser.error(f"no such folder: {args.layer}")
    saved = trim(args.layer)
    mb = {k: round(v / 1e6, 1) for k, v in saved.items()}
    print(
        f"trimmed {args.layer}: {mb['parts']} MB unused parts, {mb['files']} MB tests and sources, "
        f"{mb['symbols']} MB symbol tables"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
