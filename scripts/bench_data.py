"""Data-loading throughput with and without the decode cache (training pipeline, one epoch).

    python scripts/bench_data.py ROOT [--image-size 256] [--limit N] [--workers 0 2] [--out FILE.json]

For each ``--workers`` setting: img/s of an epoch that decodes every file (no cache), the one-time
cost of filling the cache, and img/s of an epoch served from the cache; then the time to load the
cache from disk in a later run (``$POLYPNET_CACHE_DIR``). ``--out`` writes the numbers as a record
(format ``polypnet-data-loading/1``), from which ``make docs`` renders the table of docs/data.md.
The record for the docs: ``--workers 0 2 --out results/benchmark/data_loading.json``, on
``../shared/data/kvasir-seg`` with the machine otherwise idle.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from polypnet.data import DecodeCache, PolypDataset, find_pairs

FORMAT = "polypnet-data-loading/1"
BATCH_SIZE = 16


def epoch(dataset: PolypDataset, workers: int, batch_size: int = BATCH_SIZE) -> float:
    """Images per second of one shuffled epoch through a DataLoader."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)
    start = time.perf_counter()
    n = sum(len(batch["name"]) for batch in loader)
    return n / (time.perf_counter() - start)


def measure(pairs: list, image_size: int, workers: int) -> dict[str, float]:
    """No cache, cache fill and cached epoch, for one number of workers."""
    plain = epoch(PolypDataset(pairs, image_size, train=True), workers)
    start = time.perf_counter()
    cache = DecodeCache.build(pairs, image_size)
    fill = time.perf_counter() - start
    cached = epoch(PolypDataset(pairs, image_size, train=True, cache=cache), workers)
    row = {"workers": workers, "no_cache_img_s": plain, "cache_fill_s": fill, "cached_img_s": cached}
    print(
        f"workers {workers}: no cache {plain:.1f} img/s; cache fill {len(pairs) / fill:.1f} img/s ({fill:.1f} s, "
        f"{cache.nbytes / 2**20:.0f} MiB); cached epoch {cached:.1f} img/s ({cached / plain:.1f}x)"
    )
    return row


def disk_cache_load_s(pairs: list, image_size: int) -> float:
    """Seconds for a later run to hash the files and load the arrays saved by an earlier one."""
    with tempfile.TemporaryDirectory() as folder:
        DecodeCache.build(pairs, image_size, cache_dir=folder)
        start = time.perf_counter()
        DecodeCache.build(pairs, image_size, cache_dir=folder)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--limit", type=int, help="use the first N pairs only")
    parser.add_argument("--workers", type=int, nargs="+", default=[0], help="DataLoader workers, one run each")
    parser.add_argument("--out", type=Path, help="write the numbers as a JSON record")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    pairs = find_pairs(args.root).pairs[: args.limit]
    cpus = os.cpu_count()
    print(f"{len(pairs)} pairs from {args.root}, image_size {args.image_size}, {cpus} CPUs")
    rows = [measure(pairs, args.image_size, workers) for workers in args.workers]
    load = disk_cache_load_s(pairs, args.image_size)
    print(f"disk cache: {load:.1f} s to hash the files and load the arrays in a later run")
    if args.out:
        record = {
            "format": FORMAT,
            "command": shlex.join(["python", "scripts/bench_data.py", *(sys.argv[1:] if argv is None else argv)]),
            "dataset": Path(args.root).name,
            "pairs": len(pairs),
            "image_size": args.image_size,
            "batch_size": BATCH_SIZE,
            "machine": f"{platform.machine()}, {cpus} CPUs",
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "rows": rows,
            "disk_cache_load_s": load,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
