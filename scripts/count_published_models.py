"""Parameters and GFLOPs of PraNet and Polyp-PVT, counted from the authors' own model code.

    git clone https://github.com/DengPingFan/PraNet /tmp/PraNet
    git clone https://github.com/DengPingFan/Polyp-PVT /tmp/Polyp-PVT
    python scripts/count_published_models.py --pranet /tmp/PraNet --polyp-pvt /tmp/Polyp-PVT \
        --out results/pranet/published_model_cost.json

Neither paper's text that we could read states both figures, so the PraNet-benchmark table
(``polypnet.experiments.pranet_table``) takes them from this record instead: each model is built
from its repository's class (no pretrained weights are needed to count), and counted with the
same counter as our own rows (``polypnet.experiments.benchmark.flops_per_image``, a multiply-add
counts 2; thop, which the papers' repositories use, counts multiply-adds once). Maintainer tool:
the authors' code is imported from the given checkouts, never copied into polypnet.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from polypnet.experiments.benchmark import flops_per_image
from polypnet.experiments.pranet_table import COST_RECORD_FORMAT, FLOPS_SIZE
from polypnet.models import count_parameters


@contextlib.contextmanager
def imported_from(repo: Path) -> Iterator[None]:
    """Import the repository's top-level ``lib`` package; both repositories name it ``lib``, so it
    is dropped from ``sys.modules`` afterwards."""
    sys.path.insert(0, str(repo))
    try:
        yield
    finally:
        sys.path.remove(str(repo))
        for name in [n for n in sys.modules if n == "lib" or n.startswith("lib.")]:
            del sys.modules[name]


def build_pranet(repo: Path) -> nn.Module:
    """``lib.PraNet_Res2Net.PraNet()``; its constructor loads Res2Net weights from the authors' own
    disk path, so the backbone is built without them (the weights do not change the counts)."""
    with imported_from(repo):
        module = importlib.import_module("lib.PraNet_Res2Net")
        backbone = module.res2net50_v1b_26w_4s
        module.res2net50_v1b_26w_4s = lambda pretrained=True, **kw: backbone(pretrained=False, **kw)
        return module.PraNet()


def build_polyp_pvt(repo: Path) -> nn.Module:
    """``lib.pvt.PolypPVT()``; its constructor reads ``./pretrained_pth/pvt_v2_b2.pth`` and keeps
    the keys it knows, so an empty state stands in for the file."""
    with imported_from(repo):
        module = importlib.import_module("lib.pvt")
        load = torch.load
        torch.load = lambda *a, **kw: {}  # type: ignore[assignment]
        try:
            return module.PolypPVT()
        finally:
            torch.load = load


MODELS: dict[str, tuple[str, str, Callable[[Path], nn.Module]]] = {
    "PraNet": ("https://github.com/DengPingFan/PraNet", "lib/PraNet_Res2Net.py: PraNet()", build_pranet),
    "Polyp-PVT": ("https://github.com/DengPingFan/Polyp-PVT", "lib/pvt.py: PolypPVT()", build_polyp_pvt),
}


def commit_of(repo: Path) -> str:
    """The checkout's commit, so that the counts name the code they came from."""
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def count(name: str, repo: Path) -> dict[str, Any]:
    """One model's record entry: where its code came from, parameters, GFLOPs at FLOPS_SIZE."""
    url, where, build = MODELS[name]
    torch.manual_seed(0)
    model = build(repo)
    return {
        "name": name,
        "code": url,
        "commit": commit_of(repo),
        "built_from": where,
        "params": count_parameters(model),
        "gflops": {str(FLOPS_SIZE): round(flops_per_image(model, FLOPS_SIZE) / 1e9, 3)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pranet", type=Path, required=True, help="a checkout of DengPingFan/PraNet")
    parser.add_argument("--polyp-pvt", type=Path, required=True, help="a checkout of DengPingFan/Polyp-PVT")
    parser.add_argument("--out", type=Path, default=Path("results/pranet/published_model_cost.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    record = {
        "format": COST_RECORD_FORMAT,
        "what": "parameters and forward GFLOPs of one 3x352x352 image (a multiply-add counts 2), "
        "counted here from the authors' model classes",
        "torch": torch.__version__,
        "command": "python scripts/count_published_models.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "models": [count("PraNet", args.pranet), count("Polyp-PVT", args.polyp_pvt)],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    for m in record["models"]:
        print(f"{m['name']}: {m['params']:,} parameters, {m['gflops'][str(FLOPS_SIZE)]} GFLOPs at {FLOPS_SIZE} px")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
