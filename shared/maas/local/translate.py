"""``python -m maas.local.translate template.yaml --output FILE``: the template as CloudFormation sees it.

The offline SAM translation that the local runtime uses, written out so that cfn-lint can check it too:
cfn-lint on the SAM template and on its translation together catch what either alone misses.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from maas.local.template import load_template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("template")
    parser.add_argument("--output", required=True)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    translated = load_template(args.template, args.region).translated
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(translated, indent=2, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
