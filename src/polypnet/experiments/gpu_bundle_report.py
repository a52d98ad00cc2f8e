"""The bundle section of docs/gpu.md, from ``make gpu-bundle``'s record."""

from __future__ import annotations

import json
from pathlib import Path

from ..data.shipped import TITLES
from .markdown import link, table

RECORD = Path("results/gpu/bundle.json")
FORMAT = "polypnet-gpu-bundle/1"
MIB = 1024 * 1024


def _mib(n: float) -> str:
    return f"{n / MIB:.1f} MiB"


def gpu_bundle_markdown(root: Path, base: Path) -> str:
    """What travels to the device: sizes, the packs' encoding and error, the wheels."""
    record = json.loads((root / RECORD).read_text())
    if record.get("format") != FORMAT:
        raise ValueError(f"{RECORD}: format {record.get('format')!r}, expected {FORMAT!r}")
    packs, wheels = record["packs"], record["wheels"]
    data = sum(p["bytes"]["total"] for p in packs)
    wheel_bytes = sum(w["bytes"] for w in wheels)
    checkout, gpu = record["checkout_bytes"], record["gpu_bytes"]
    rows = []
    for p in packs:
        image, mask = p["encoding"]["image"], p["encoding"]["mask"]
        rows.append(
            [
                f"{TITLES.get(p['name'], p['name'])} pack",
                f"{p['pairs']} pairs at {p['size']} px, JPEG q{image['quality']} {image['subsampling']} + "
                f"{mask['bits']}-bit PNG",
                f"{_mib(p['bytes']['images'])} images + {_mib(p['bytes']['masks'])} masks",
            ]
        )
    rows.append(["wheels", str(len(wheels)), _mib(wheel_bytes)])
    rows.append(["**`.gpu/` in all**", "", f"**{_mib(gpu)}**"])
    summary = (
        f"At commit `{record['commit']}` the checkout was {_mib(checkout)} and `.gpu/` {_mib(gpu)} "
        f"(data {_mib(data)}, wheels {_mib(wheel_bytes)}): {_mib(checkout + gpu)} of the device tool's "
        f"{record['limit_mib']:g} MiB; the packs were made for a budget of {record['packs_budget_mib']:g} MiB."
    )
    psnr = "; ".join(
        f"{TITLES.get(p['name'], p['name'])} mean {p['psnr_db']['mean']:.2f} dB, min {p['psnr_db']['min']:.2f} dB"
        for p in packs
    )
    listed = ", ".join(f"{w['name']} {w['version']}" for w in wheels)
    return (
        summary
        + "\n\n"
        + table(["part", "files", "size"], rows)
        + f"\nPSNR of the packed images against the lossless {packs[0]['size']} px resize they encode: {psnr}. "
        + "Masks are exact.\n\n"
        + f"Wheels: {listed}.\n\n"
        + f"Record {link(RECORD, RECORD.name, base)}, written by `{record['command']}`.\n"
    )
