"""``polypnet reproduce``: train the paper's protocol, evaluate on the test split, record results.

    polypnet reproduce --protocol paper --data-dir ../shared/data              # accelerator
    polypnet reproduce --protocol cpu --datasets cvc-clinicdb --data-dir ../shared/data
    polypnet reproduce --protocol paper128 --datasets cvc-clinicdb   # the paper's schedule, 128 px
    polypnet reproduce --protocol cpu --datasets cvc-clinicdb --from-run runs/cpu_cvc/seed42

For each dataset and seed it runs ``polypnet fit`` with ``configs/<protocol>_<dataset>.yaml``,
scores the best checkpoint with the evaluation of ``polypnet evaluate`` (at the network's input
size and at the original resolution), and writes ``results/<protocol>/<dataset>_seed<k>.json``
plus ``results/<protocol>/README.md``, a table of ours vs the paper, and keeps the run's small
files (no checkpoints) in ``results/<protocol>/<dataset>_seed<k>_run/``. ``--from-run`` records a run
that was already trained with the same config instead of training again. A run folder that
holds an interrupted run resumes from its last checkpoint; a finished one is recorded again
without training.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from ..data.layouts import DATA_DIR_ENV
from ..experiments import pranet_protocol
from ..experiments.configs import config_path
from ..experiments.paper import PAPER, PAPER_PARAMS
from ..experiments.protocol_table import protocol_table_markdown
from ..experiments.provenance import git_commit
from ..inference.checkpoint import best_checkpoints, load_checkpoint
from ..models import count_parameters
from ..training.callbacks import WALL_CLOCK_FILE, read_wall_clock
from . import evaluate as evaluate_cli
from . import fit as fit_cli

CONFIG_STEMS = {"cvc-clinicdb": "cvc", "kvasir-seg": "kvasir"}
PROTOCOLS = (
    "paper",
    "paper128",
    "cpu",
    "improved",
    "cpu_improved",
    "paper128_improved",
    "paper128_multiscale",
    *pranet_protocol.PRANET_PROTOCOLS,
)
#: The paper's test results (random 80/10/10 split), in percent.


def build_parser() -> argparse.ArgumentParser:
    """The command line of reproduce.py."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="paper",
        help="paper: 256 px, 40 epochs (needs an accelerator); paper128: the paper's schedule at "
        "128 px (~1 h on 2 CPU cores for CVC-ClinicDB); cpu: 128 px, 20 epochs; improved, "
        "cpu_improved, paper128_improved: paper, cpu and paper128 with our improved recipe (BCE + Dice, "
        "deep supervision); paper128_multiscale: paper128_improved with multi-scale training. "
        "Each reads configs/<protocol>_<cvc|kvasir>.yaml. pranet, pranet_paper: PraNet's benchmark, one model on "
        "both datasets (configs/<protocol>.yaml), scored with pysodmetrics (experiments/pranet_protocol.py); "
        "pranet128: pranet at 128 px (about an hour on 2 CPU cores); pranet128_kvasir, pranet128_cvc: "
        "pranet128 on one dataset's part alone, scored on its test list; pranet128_kvasir_steps, pranet128_cvc_steps: "
        "those for as many steps as pranet128; pranet128_long: pranet128 for 80 epochs",
    )
    p.add_argument("--datasets", nargs="+", choices=sorted(CONFIG_STEMS), default=sorted(CONFIG_STEMS))
    p.add_argument("--seeds", nargs="+", type=int, default=[42])
    p.add_argument(
        "--split",
        choices=("random", "sequence"),
        default="random",
        help="random: the paper's 80/10/10; sequence: CVC-ClinicDB by video sequence",
    )
    p.add_argument(
        "--split-seed",
        type=int,
        help="the seed that draws the split (default: the config's, 42). --seeds changes only "
        "initialisation, order and augmentation, so every seed sees the same test images",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get(DATA_DIR_ENV) or "data"),
        help="folder holding kvasir-seg/ and cvc-clinicdb/ (default: $POLYPNET_DATA_DIR, else ./data)",
    )
    p.add_argument("--accelerator", default="auto")
    p.add_argument("--num-workers", type=int, help="DataLoader worker processes (default: the config's, 4)")
    p.add_argument("--precision", help="Trainer precision, e.g. bf16-mixed (default: the config's, 32-true)")
    p.add_argument("--out", type=Path, default=Path("results"), help="records go to OUT/PROTOCOL (default: ./results)")
    p.add_argument(
        "--runs", type=Path, default=Path("runs/reproduce"), help="training runs (default: ./runs/reproduce)"
    )
    p.add_argument("--from-run", type=Path, help="record this finished run instead of training (one dataset, one seed)")
    p.add_argument(
        "--extra",
        nargs=argparse.REMAINDER,
        default=[],
        help="further fit.py arguments, e.g. --extra --trainer.max_epochs 2 (ends the command line)",
    )
    return p


def device_name(accelerator: str) -> str:
    """A human name of the device that trained: the GPU's, else the CPU's with its core count."""
    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def train(config: Path, data_root: Path, seed: int, run_dir: Path, args: argparse.Namespace) -> float | None:
    """Run fit.py, resuming an interrupted run and skipping a finished one; returns the run's wall
    time in seconds (summed over its parts, from ``wall_clock.json``), or None where unknown."""
    if fit_cli.is_finished(run_dir):
        print(f"{run_dir}: finished earlier, recording it without training")
        return read_wall_clock(run_dir)
    argv = fit_cli.seeded_run_argv(config, data_root, seed, run_dir, args.accelerator)
    if args.split != "random":
        argv += ["--data.split", args.split]
    if args.split_seed is not None:
        argv += ["--data.seed", str(args.split_seed)]
    if args.num_workers is not None:
        argv += ["--data.num_workers", str(args.num_workers)]
    if args.precision is not None:
        argv += ["--trainer.precision", args.precision]
    resume = [] if "--ckpt_path" in args.extra else fit_cli.resume_argv(run_dir)
    if resume:
        print(f"{run_dir}: resuming from {resume[1]}")
    start = time.time()
    code = fit_cli.main([*argv, *resume, *args.extra])
    if code != 0:
        raise SystemExit(f"error: training failed (exit {code}); see {run_dir}")
    measured = read_wall_clock(run_dir)
    # Without the clock file (a run begun before it existed) only a run trained in one go here is timed.
    return measured if measured is not None else (None if resume else time.time() - start)


def record(
    run_dir: Path,
    dataset: str,
    seed: int,
    protocol: str,
    wall_s: float | None,
    out: Path,
    command: str | None = None,
    commit: str = "unknown",
) -> dict[str, Any]:
    """Evaluate the run's best checkpoint on its test split and write the result JSON (``command``:
    the reproduce.py command line that made it, ``commit``: the checkout it ran from, both kept
    with the result)."""
    best = best_checkpoints(run_dir)
    if not best:
        raise SystemExit(f"error: no best checkpoint in {run_dir / 'checkpoints'}")
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    # The training's device and thread count, named before the evaluation runs in this process.
    device = device_name(str(config["trainer"].get("accelerator", "auto")))
    eval_dir = run_dir / "eval-test"
    # --overwrite: recording a run again re-evaluates it into its own eval-test/ on purpose.
    # torch fp32: a record scores the network as trained, never a deployment runtime's rounding
    # (evaluate's default, OpenVINO in bf16 on a CPU that has it, moved F1 by up to 0.25 points).
    code = evaluate_cli.main(
        [
            "--checkpoint",
            str(best[-1]),
            "--backend",
            "torch",
            "--precision",
            "fp32",
            "--original-resolution",
            "--out",
            str(eval_dir),
            "--overwrite",
        ]
    )
    if code != 0:
        raise SystemExit(f"error: evaluation failed (exit {code})")
    evaluated = json.loads((eval_dir / "metrics.json").read_text())
    net, _ = load_checkpoint(best[-1])
    result = {
        "dataset": dataset,
        "protocol": protocol,
        "seed": seed,
        "split": config["data"]["split"],
        "split_seed": config["data"]["seed"],
        "image_size": config["data"]["image_size"],
        "epochs": config["trainer"]["max_epochs"],
        "batch_size": config["data"]["batch_size"],
        "precision": str(config["trainer"].get("precision", "32-true")),
        "repeats": config["data"]["repeats"],
        "model": config["model"]["model"],
        "model_kwargs": config["model"].get("model_kwargs") or {},
        "params": count_parameters(net),
        "checkpoint": str(best[-1]),
        # the run folder's name and the result's differ when the training seed is not the split seed
        "run_dir": str(run_dir),
        "accelerator": device,
        "wall_time_s": None if wall_s is None else round(wall_s, 1),
        "git_commit": commit,
        "command": command,
        "test_images": int(evaluated["metrics"]["images"]),
        "metrics": evaluated["metrics"],
        "paper": {**PAPER[dataset], "params": PAPER_PARAMS},
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{dataset}_seed{seed}{result_suffix(result['split'], result['split_seed'], seed)}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"recorded {path}")
    print(f"run files: {keep_run_files(run_dir, path.with_name(path.stem + '_run'))}")
    return result


#: A run's small files kept beside its result (no checkpoints): (source in the run, name kept).
RUN_FILES = (
    ("config.yaml", "config.yaml"),
    ("split.json", "split.json"),
    ("metrics.csv", "metrics.csv"),
    ("curves.png", "curves.png"),
    ("test_metrics.json", "test_metrics.json"),
    ("eval-test/metrics.json", "eval_metrics.json"),
    ("eval-test/per_image.csv", "per_image.csv"),
    ("eval-test/overlays.jpg", "overlays.jpg"),
    (WALL_CLOCK_FILE, WALL_CLOCK_FILE),
)


def keep_run_files(run_dir: Path, dest: Path) -> Path:
    """Copy the run's config, split, curves, test metrics, per-image scores and overlays to ``dest``,
    so that a result stays checkable after the ``runs/`` folder (with its checkpoints) is gone."""
    return fit_cli.copy_run_files(run_dir, dest, RUN_FILES)


def result_suffix(split: str, split_seed: int, seed: int) -> str:
    """The file-name tail that tells runs apart: the split unless random, the split seed unless the seed."""
    return ("" if split == "random" else f"_{split}") + ("" if split_seed == seed else f"_split{split_seed}")


def write_table(out: Path) -> Path:
    """``out/README.md``: every result JSON of the folder against the paper's numbers."""
    path = out / "README.md"
    path.write_text(protocol_table_markdown(out))
    return path


def main(argv: list[str] | None = None) -> int:
    """Train and record each (dataset, seed); returns the exit code."""
    args = build_parser().parse_args(argv)
    command = "polypnet reproduce " + shlex.join(sys.argv[1:] if argv is None else argv)
    # Read before training: the code that trains is what was loaded now, and a run of hours must not
    # name a later commit (or -dirty) because the checkout changed while it ran.
    commit = git_commit()
    out = args.out / args.protocol
    if args.protocol in pranet_protocol.PRANET_PROTOCOLS:  # one run on both datasets, PraNet's benchmark
        return pranet_protocol.run(
            args,
            out,
            command,
            train=train,
            best_checkpoints=best_checkpoints,
            git_commit=commit,
            device_name=device_name,
            read_wall_clock=read_wall_clock,
            config=config_path(args.protocol),
            keep_run_files=keep_run_files,
        )
    if args.from_run is not None:
        if len(args.datasets) != 1 or len(args.seeds) != 1:
            print("error: --from-run records one run: pass one --datasets and one --seeds", file=sys.stderr)
            return 2
        record(
            args.from_run,
            args.datasets[0],
            args.seeds[0],
            args.protocol,
            read_wall_clock(args.from_run),
            out,
            command,
            commit,
        )
    else:
        for dataset in args.datasets:
            data_root = args.data_dir / dataset
            if not data_root.is_dir():
                print(f"error: {data_root} not found (--data-dir holds kvasir-seg/ and cvc-clinicdb/)", file=sys.stderr)
                return 2
            config = config_path(f"{args.protocol}_{CONFIG_STEMS[dataset]}")
            for seed in args.seeds:
                split_seed = "" if args.split_seed is None else f"_split{args.split_seed}"
                run_dir = args.runs / args.protocol / f"{dataset}_{args.split}{split_seed}_seed{seed}"
                wall = train(config, data_root, seed, run_dir, args)
                record(run_dir, dataset, seed, args.protocol, wall, out, command, commit)
    print(f"table: {write_table(out)}")
    return 0
