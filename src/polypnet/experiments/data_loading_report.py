"""The data-loading table of docs/data.md, from ``scripts/bench_data.py``'s record."""

from __future__ import annotations

import json
from pathlib import Path

from .markdown import link, table

RECORD = Path("results/benchmark/data_loading.json")
FORMAT = "polypnet-data-loading/1"
#: Samples in one epoch of the paper's Kvasir-SEG training split (800 images x 4 repeats).
KVASIR_EPOCH = 3200


def data_loading_markdown(root: Path, base: Path) -> str:
    """Throughput without and with the decode cache, one column per number of workers."""
    record = json.loads((root / RECORD).read_text())
    if record.get("format") != FORMAT:
        raise ValueError(f"{RECORD}: format {record.get('format')!r}, expected {FORMAT!r}")
    rows = record["rows"]
    pairs = record["pairs"]
    header = [""] + [f"num_workers {row['workers']}" for row in rows]
    body = [
        ["no cache (decode + resize + augment every item)"] + [f"{row['no_cache_img_s']:.1f} img/s" for row in rows],
        ["cache fill (once, at setup)"]
        + [f"{pairs / row['cache_fill_s']:.0f} img/s ({row['cache_fill_s']:.1f} s)" for row in rows],
        ["epoch from the cache (augment only)"]
        + [f"**{row['cached_img_s']:.0f} img/s** ({row['cached_img_s'] / row['no_cache_img_s']:.1f}x)" for row in rows],
        ["later run with `$POLYPNET_CACHE_DIR` (hash files + load arrays)"]
        + [f"{record['disk_cache_load_s']:.1f} s instead of {rows[0]['cache_fill_s']:.1f} s"]
        + [""] * (len(rows) - 1),
    ]
    first = rows[0]
    epoch = (
        f"So at num_workers {first['workers']} an epoch of the paper's {KVASIR_EPOCH} Kvasir-SEG samples "
        f"(`repeats=4`) takes {KVASIR_EPOCH / first['cached_img_s']:.1f} s of data loading from the cache "
        f"instead of {KVASIR_EPOCH / first['no_cache_img_s']:.0f} s."
    )
    source = (
        f"{record['dataset']}, {pairs} pairs at {record['image_size']} px, batch {record['batch_size']}, one epoch; "
        f"{record['machine']}, torch {record['torch']} with {record['torch_threads']} threads. Record "
        f"{link(RECORD, RECORD.name, base)}, made by `{record['command']}`."
    )
    return table(header, body) + "\n" + epoch + "\n\n" + source + "\n"
