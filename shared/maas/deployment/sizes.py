"""``python -m maas.deployment.sizes``: every function's unzipped size after ``sam build``, and what it lacks.

Lambda refuses a function whose code and layers unzip to more than 262,144,000 bytes; the platform keeps each
within 230 MB (10^6 bytes) so that a dependency's next release does not break a deployment. It prints a table,
then one JSON object of the figures as its last line, and exits 1 when a function is over the limit, when two
of its layers hold the same package, or with ``--runtime-dir`` (the Lambda runtime's packages: boto3 and what it
needs) when a layer holds one of those, or a package in its layers needs one that neither they nor the runtime
hold.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from maas.deployment.artifacts import (
    BuildError,
    Function,
    folder_bytes,
    overlaps,
    read_build,
    runtime_duplicates,
    unmet_requirements,
)

LIMIT_MB = 230
LAMBDA_HARD_LIMIT_BYTES = 262_144_000
MB = 1_000_000


def measure(functions: list[Function], runtime_dir: Path | None, limit_mb: float) -> dict[str, Any]:
    layer_bytes: dict[str, int] = {}
    rows: dict[str, dict[str, Any]] = {}
    for function in functions:
        for layer in function.layers:
            if layer.logical_id not in layer_bytes:
                layer_bytes[layer.logical_id] = folder_bytes(layer.path)
        code = folder_bytes(function.code)
        total = code + sum(layer_bytes[layer.logical_id] for layer in function.layers)
        problems = overlaps(function)
        if runtime_dir is not None:
            problems += runtime_duplicates(function, runtime_dir)
            problems += unmet_requirements(function, runtime_dir, function.runtime.removeprefix("python"))
        if total > limit_mb * MB:
            problems.append(f"{total / MB:.1f} MB is over the {limit_mb:g} MB limit")
        rows[function.logical_id] = {
            "code_bytes": code,
            "layers": [layer.logical_id for layer in function.layers],
            "total_bytes": total,
            "total_mb": round(total / MB, 1),
            "problems": problems,
        }
    return {
        "limit_mb": limit_mb,
        "lambda_limit_bytes": LAMBDA_HARD_LIMIT_BYTES,
        "max_mb": max((r["total_mb"] for r in rows.values()), default=0),
        "layers_mb": {name: round(size / MB, 1) for name, size in layer_bytes.items()},
        "functions": rows,
        "ok": not any(r["problems"] for r in rows.values()),
    }


def print_report(report: dict[str, Any]) -> None:
    rows = report["functions"]
    width = max([len("function"), *map(len, rows)])
    print(f"{'function':<{width}}  {'code MB':>7}  {'total MB':>8}  layers (MB = 10^6 bytes unzipped)")
    for name, row in rows.items():
        layers = " + ".join(f"{n} {report['layers_mb'][n]}" for n in row["layers"])
        print(f"{name:<{width}}  {row['code_bytes'] / MB:>7.2f}  {row['total_mb']:>8.1f}  {layers}")
        for problem in row["problems"]:
            print(f"{'':<{width}}  !! {problem}")
    verdict = "all within" if report["ok"] else "NOT all within"
    print(f"largest {report['max_mb']} MB: {verdict} the {report['limit_mb']:g} MB limit (Lambda's: 262.1 MB)")
    print(json.dumps(report, separators=(",", ":")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="unzipped size of every function after sam build")
    parser.add_argument("build_dir", nargs="?", type=Path, default=Path(".aws-sam/build"))
    parser.add_argument("--limit-mb", type=float, default=LIMIT_MB)
    parser.add_argument(
        "--runtime-dir",
        type=Path,
        help="the Lambda runtime's packages (boto3 ...), to check that each function's requirements are met",
    )
    args = parser.parse_args(argv)
    try:
        functions = read_build(args.build_dir)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = measure(functions, args.runtime_dir, args.limit_mb)
    print_report(report)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
