"""``polypnet reproduce --protocol pranet``: one model on Kvasir-SEG + CVC-ClinicDB, PraNet's benchmark.

    polypnet reproduce --protocol pranet --data-dir ../shared/data            # improved recipe
    polypnet reproduce --protocol pranet_paper --data-dir ../shared/data      # the IAM-UNet paper's
    polypnet reproduce --protocol pranet128 --data-dir ../shared/data         # 128 px, ~1 h on a CPU
    polypnet reproduce --protocol pranet128_kvasir --data-dir ../shared/data  # one dataset's part alone
    polypnet reproduce --protocol pranet --from-run runs/reproduce/pranet/pranet_seed42 --seeds 42

Trains ``configs/<protocol>.yaml`` on both datasets at once (split ``pranet``; or on the one its
``data.root`` names), scores the best checkpoint on PraNet's Kvasir 100 and CVC-ClinicDB 62 (those
of the datasets it trained on) at each image's original size with
:mod:`~polypnet.experiments.polyp_benchmark`, and writes ``<out>/pranet_seed<k>.json`` (format
:data:`~polypnet.experiments.pranet_table.RECORD_FORMAT`) and ``<out>/README.md``, the table of
:func:`~polypnet.experiments.pranet_table.pranet_markdown` (ours beside the quoted papers).

Scoring needs the original images: on resized copies (``polypnet.data.pack``, the GPU bundle) the
run trains and is not scored; record it where the originals are with ``--from-run``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..data.layouts import PACK_MANIFEST
from .pranet_table import BENCHMARK_DATASETS, FLOPS_SIZE, RECORD_FORMAT, pranet_markdown

#: Protocol -> the recipe its config trains (configs/<protocol>.yaml). ``pranet128_kvasir`` and
#: ``pranet128_cvc`` train on one dataset's part of the split alone: beside ``pranet128`` they
#: measure training on both datasets, and are no entry of the benchmark itself. Their ``_steps``
#: forms train as many steps as ``pranet128`` (more epochs), so that lever is more data alone.
#: ``pranet128_long`` is ``pranet128`` for twice the epochs: the longer schedule on both datasets.
PRANET_PROTOCOLS = {
    "pranet": "improved",
    "pranet_paper": "paper",
    "pranet128": "improved",
    "pranet128_kvasir": "improved",
    "pranet128_cvc": "improved",
    "pranet128_kvasir_steps": "improved",
    "pranet128_cvc_steps": "improved",
    "pranet128_long": "improved",
}


def train_datasets(config: Path) -> tuple[str, ...]:
    """The datasets a PraNet-protocol config trains on (``data.root``, dataset names), checked."""
    names = yaml.safe_load(config.read_text())["data"]["root"]
    names = [names] if isinstance(names, str) else list(names)
    if not names or any(n not in BENCHMARK_DATASETS for n in names):
        raise ValueError(f"{config}: data.root must name {' and/or '.join(BENCHMARK_DATASETS)}, not {names}")
    return tuple(names)


def record_path(out: Path, seed: int, split_seed: int | None = None) -> Path:
    """``out/pranet_seed<k>.json``; ``_split<j>`` added when the split seed is not the seed."""
    tail = "" if split_seed is None or split_seed == seed else f"_split{split_seed}"
    return out / f"pranet_seed{seed}{tail}.json"


def score_checkpoint(
    checkpoint: Path,
    roots: Mapping[str, Path],
    image_size: int,
    device: str = "cpu",
    batch_size: int = 8,
    limit: int | None = None,
) -> dict[str, Any]:
    """Benchmark scores, parameters and FLOPs of a checkpoint: the parts of a record that the
    model and the data give (``sets``, ``params``, ``gflops`` at the training size and at
    :data:`FLOPS_SIZE`, a multiply-add counting 2)."""
    from importlib.metadata import version

    from ..inference.checkpoint import load_checkpoint
    from ..inference.predictor import Predictor
    from ..models import count_parameters
    from .benchmark import flops_per_image
    from .polyp_benchmark import benchmark

    net, _ = load_checkpoint(checkpoint)
    predictor = Predictor(net, image_size=image_size, device=device)
    sets = benchmark(predictor, roots, batch_size=batch_size, limit=limit)
    return {
        "params": count_parameters(net),
        "gflops": {str(s): flops_per_image(net, s) / 1e9 for s in sorted({image_size, FLOPS_SIZE})},
        "scorer": f"pysodmetrics {version('pysodmetrics')}",
        "sets": [s.as_dict() for s in sets],
    }


def write_record(
    run_dir: Path,
    checkpoint: Path,
    roots: Mapping[str, Path],
    out: Path,
    *,
    seed: int,
    protocol: str,
    wall_s: float | None = None,
    command: str | None = None,
    git_commit: str = "unknown",
    accelerator: str | None = None,
    device: str = "cpu",
    limit: int | None = None,
) -> Path:
    """Score ``checkpoint`` (of the run in ``run_dir``, whose ``config.yaml`` says how it was
    trained) and write its record in ``out``; returns the record's path."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    data, trainer = config["data"], config["trainer"]
    scored = score_checkpoint(checkpoint, roots, int(data["image_size"]), device=device, limit=limit)
    record = {
        "format": RECORD_FORMAT,
        "protocol": protocol,
        "recipe": PRANET_PROTOCOLS.get(protocol, protocol),
        "seed": seed,
        "split": data["split"],
        "split_seed": data["seed"],
        "val_fraction": data.get("val_fraction"),
        "image_size": data["image_size"],
        "epochs": trainer["max_epochs"],
        "batch_size": data["batch_size"],
        "repeats": data["repeats"],
        "precision": str(trainer.get("precision", "32-true")),
        "model": config["model"]["model"],
        "model_kwargs": config["model"].get("model_kwargs") or {},
        "loss": config["model"].get("loss"),
        "deep_supervision": config["model"].get("deep_supervision"),
        "train_datasets": list(roots),
        **{k: scored[k] for k in ("params", "gflops")},
        "checkpoint": str(checkpoint),
        "run_dir": str(run_dir),
        "accelerator": accelerator,
        "wall_time_s": None if wall_s is None else round(wall_s, 1),
        "git_commit": git_commit,
        "command": command,
        "scored_at": "each image's original size",
        "scorer": scored["scorer"],
        "sets": scored["sets"],
    }
    out.mkdir(parents=True, exist_ok=True)
    path = record_path(out, seed, data["seed"])
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def readme_markdown(out: Path) -> str:
    """The text of ``out/README.md``: the PraNet-benchmark table of the records in ``out``."""
    return "\n".join(
        [
            f"# Results: `{out.name}` protocol (PraNet's benchmark)",
            "",
            f"Written by `polypnet reproduce --protocol {out.name}` from the JSON records beside this file.",
            "",
            pranet_markdown(out, heading="##"),
        ]
    )


def write_table(out: Path) -> Path:
    """``out/README.md``: the PraNet-benchmark table of the records in ``out``."""
    path = out / "README.md"
    path.write_text(readme_markdown(out))
    return path


def run(
    args: argparse.Namespace,
    out: Path,
    command: str,
    *,
    train: Callable[..., float | None],
    best_checkpoints: Callable[[Path], Sequence[Path]],
    git_commit: str,
    device_name: Callable[[str], str],
    read_wall_clock: Callable[[Path], float | None],
    config: Path,
    keep_run_files: Callable[[Path, Path], Path] | None = None,
) -> int:
    """The PraNet protocol of reproduce: train each of ``args.seeds`` (or take ``args.from_run``)
    and record it; reproduce passes its own ``train``, ``best_checkpoints``, ... so that there is
    one implementation of each (``keep_run_files(run_dir, dest)``: the run's small files kept
    beside the record, in ``<record stem>_run/``). Returns the exit code."""
    roots = {d: args.data_dir / d for d in train_datasets(config)}
    missing = [str(p) for p in roots.values() if not p.is_dir()]
    if missing:
        print(f"error: {', '.join(missing)} not found (--data-dir holds {'/ and '.join(roots)}/)", file=sys.stderr)
        return 2
    packed = [str(p) for p in roots.values() if (p / PACK_MANIFEST).is_file()]
    if packed and args.from_run is not None:
        print(
            f"error: {', '.join(packed)}: resized copies; --from-run scores on the original datasets", file=sys.stderr
        )
        return 2
    if args.from_run is not None and len(args.seeds) != 1:
        print("error: --from-run records one run: pass one --seeds", file=sys.stderr)
        return 2
    for seed in args.seeds:
        if args.from_run is not None:
            # Trained elsewhere (the GPU machine, say): this machine's device would be the wrong name.
            run_dir, wall, device = args.from_run, read_wall_clock(args.from_run), None
        else:
            device = device_name(args.accelerator)
            split_seed = "" if args.split_seed is None else f"_split{args.split_seed}"
            run_dir = args.runs / args.protocol / f"pranet{split_seed}_seed{seed}"
            # The DataModule takes the list of roots as JSON on the command line.
            wall = train(config, json.dumps([str(p) for p in roots.values()]), seed, run_dir, args)
        if packed:
            print(
                f"{run_dir}: trained on resized copies ({', '.join(packed)}); the benchmark scores at each "
                f"image's original size: record it where the originals are, with --from-run {run_dir}"
            )
            continue
        best = list(best_checkpoints(run_dir))
        if not best:
            print(f"error: no best checkpoint in {run_dir / 'checkpoints'}", file=sys.stderr)
            return 2
        path = write_record(
            run_dir,
            best[-1],
            roots,
            out,
            seed=seed,
            protocol=args.protocol,
            wall_s=wall,
            command=command,
            git_commit=git_commit,
            accelerator=device,
        )
        print(f"recorded {path}")
        if keep_run_files is not None:
            print(f"run files: {keep_run_files(run_dir, path.with_name(path.stem + '_run'))}")
    if not packed:
        print(f"table: {write_table(out)}")
    return 0
