"""Data-loading throughput with and without the decode cache (training pipeline, one epoch).

    python scripts/bench_data.py ROOT [--image-size 256] [--limit N] [--workers 0] [--cache-dir DIR]

Prints img/s of an epoch that decodes every file (no cache), the one-time cost of filling the
cache, and img/s of an epoch served from the cache; with --cache-dir also the time to load the
cache from disk in a later run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import torch
from torch.utils.data import DataLoader

from polypnet.data import DecodeCache, PolypDataset, find_pairs


def epoch(dataset: PolypDataset, workers: int, batch_size: int = 16) -> float:
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)
    start = time.perf_counter()
    n = sum(len(batch["name"]) for batch in loader)
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--limit", type=int, help="use the first N pairs only")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--cache-dir", help="also measure the disk cache (a temporary folder when 'tmp')")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    pairs = find_pairs(args.root).pairs[: args.limit]
    print(
        f"{len(pairs)} pairs from {args.root}, image_size {args.image_size}, workers {args.workers}, "
        f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}"
    )

    plain = epoch(PolypDataset(pairs, args.image_size, train=True), args.workers)
    print(f"no cache:     {plain:7.1f} img/s  (decode + resize + augment every item)")

    start = time.perf_counter()
    cache = DecodeCache.build(pairs, args.image_size)
    fill = time.perf_counter() - start
    mib = cache.nbytes / 2**20
    print(
        f"cache fill:   {len(pairs) / fill:7.1f} img/s  ({fill:.1f} s once, {mib:.0f} MiB, "
        f"{os.cpu_count()} decode threads)"
    )
    cached = epoch(PolypDataset(pairs, args.image_size, train=True, cache=cache), args.workers)
    print(f"cached epoch: {cached:7.1f} img/s  (augment only: {cached / plain:.1f}x)")

    if args.cache_dir:
        with tempfile.TemporaryDirectory() as tmp:
            folder = tmp if args.cache_dir == "tmp" else args.cache_dir
            DecodeCache.build(pairs, args.image_size, cache_dir=folder)
            start = time.perf_counter()
            DecodeCache.build(pairs, args.image_size, cache_dir=folder)
            seconds = time.perf_counter() - start
            print(f"disk cache:   {seconds:.1f} s to hash the files and load the arrays in a later run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
