#!/usr/bin/env python
"""Write the record of what ``make gpu-bundle`` built: results/gpu/bundle.json (docs/gpu.md is generated from it).

    python scripts/gpu_bundle_record.py --checkout-bytes N --limit-mib 64

Reads ``.gpu/data/*/pack.json`` (each pack's manifest) and ``.gpu/wheels/wheels.txt`` (name,
version, file, bytes), and keeps only what the page shows: no paths of this machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from polypnet.experiments.provenance import git_commit

FORMAT = "polypnet-gpu-bundle/1"


def bundle_record(gpu: Path, checkout_bytes: int, limit_mib: float) -> dict:
    """The record of the bundle under ``gpu`` beside a checkout of ``checkout_bytes``."""
    packs, budgets = [], set()
    for manifest in sorted(gpu.glob("data/*/pack.json")):
        meta = json.loads(manifest.read_text())
        budgets.add(meta["budget"]["mib"])
        packs.append(
            {
                "name": meta["name"],
                "pairs": meta["counts"]["pairs"],
                "size": meta["size"],
                "encoding": meta["encoding"],
                "bytes": meta["bytes"],
                "psnr_db": {k: meta["psnr_db"][k] for k in ("mean", "min")},
            }
        )
    wheels = []
    for line in (gpu / "wheels" / "wheels.txt").read_text().splitlines():
        name, version, _file, size = line.split("\t")
        wheels.append({"name": name, "version": version, "bytes": int(size)})
    gpu_bytes = sum(f.stat().st_size for f in gpu.rglob("*") if f.is_file())
    return {
        "format": FORMAT,
        "command": "make gpu-bundle",
        "commit": git_commit(),
        "limit_mib": limit_mib,
        # the budget the packs were made for (SKIP_PACK=1 keeps older packs)
        "packs_budget_mib": budgets.pop() if len(budgets) == 1 else None,
        "checkout_bytes": checkout_bytes,
        "gpu_bytes": gpu_bytes,
        "packs": packs,
        "wheels": wheels,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gpu", type=Path, default=Path(".gpu"))
    parser.add_argument("--checkout-bytes", type=int, required=True)
    parser.add_argument("--limit-mib", type=float, required=True)
    parser.add_argument("--out", type=Path, default=Path("results/gpu/bundle.json"))
    args = parser.parse_args()
    record = bundle_record(args.gpu, args.checkout_bytes, args.limit_mib)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"record: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
