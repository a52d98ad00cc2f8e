"""``polypnet ablate``: run the paper's ablation studies and the baseline comparison.

    polypnet ablate attention_position                      # CPU protocol, seed 42
    polypnet ablate loss --seeds 42 43 44                   # mean ± std over seeds
    polypnet ablate all --protocol paper --accelerator gpu  # the paper's protocol
    polypnet ablate baselines --latency                     # + FLOPs and CPU latency
    polypnet ablate bridge_blocks --summarize-only          # redraw from finished runs

A study is ``configs/ablations/<study>.yaml`` (or a path): arms of fit.py overrides applied on one
base config (``--protocol cpu``: ``configs/ablation_cpu_cvc.yaml``; ``paper``:
``configs/paper_cvc.yaml``), so every arm shares the split, seed and schedule. Each arm and seed
trains into ``runs/ablate/<protocol>/<study>/<arm>_seed<k>``, except the arm with no overrides
(the base config = the paper's choice), which all studies share in ``runs/ablate/<protocol>/base``,
and an arm equal to another study's finished arm, which reuses it;
a finished run is reused and an interrupted one resumes from its ``last.ckpt``. Each finished run's
curves, test metrics and config (not its checkpoints) are also kept in
``results/ablations/<protocol>/runs/``, beside the tables, so a later session can add seeds or arms
and redraw the study without the ``runs/`` folder, which is not committed. After every run the study's table
(``results/ablations/<protocol>/<study>.md`` and ``.json``) and figure (``<study>.png``:
validation loss and Dice over all epochs and the last 5, like the paper's figures 4-7) are
rewritten. Arms are compared by validation Dice: loss values of different loss functions measure
different things, so the paper's comparison by validation loss is drawn but not meaningful.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from ..data.layouts import DATA_DIR_ENV
from ..experiments.benchmark import flops_per_image, latency
from ..experiments.configs import CONFIG_DIR, config_path, list_configs
from ..experiments.plots import draw_paired, draw_study
from ..experiments.studies import (
    RunResult,
    Study,
    StudyError,
    arm_argv,
    arm_model,
    load_study,
    paired_deltas,
    per_seed_markdown,
    read_run,
    summarize_arm,
    table_markdown,
)
from ..models import create_model
from ..training.callbacks import WALL_CLOCK_FILE
from . import fit as fit_cli

STUDY_FOLDER = "ablations"
BASE_RUN = "base"
RECORDS = "runs"  # the committed records of finished runs, under a protocol's results folder
# What a record keeps of a finished run: enough to redraw and tabulate it, a few kB.
RECORD_FILES = ("metrics.csv", "test_metrics.json", "config.yaml", WALL_CLOCK_FILE)
BASE_CONFIGS = {
    "cpu": "ablation_cpu_cvc",
    "paper": "paper_cvc",
}


def available_studies() -> list[str]:
    """Names of the shipped study files (``configs/ablations``)."""
    return list_configs(STUDY_FOLDER)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ablate.py."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "studies",
        nargs="+",
        metavar="STUDY",
        help=f"'all', a study name ({', '.join(available_studies())}) or a study YAML path",
    )
    p.add_argument(
        "--protocol",
        choices=sorted(BASE_CONFIGS),
        default="cpu",
        help="cpu: the short 128 px protocol of configs/ablation_cpu_cvc.yaml; paper: configs/paper_cvc.yaml",
    )
    p.add_argument("--base", type=Path, help="another base config (replaces the protocol's)")
    p.add_argument("--arms", nargs="+", help="run only these arms (default: all of the study)")
    p.add_argument("--seeds", nargs="+", type=int, default=[42])
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get(DATA_DIR_ENV) or "data"),
        help="folder holding cvc-clinicdb/ (default: $POLYPNET_DATA_DIR, else ./data) (the paper ran its studies on CVC-ClinicDB)",
    )
    p.add_argument("--dataset", default="cvc-clinicdb", help="dataset folder under --data-dir")
    p.add_argument("--accelerator", default="auto")
    p.add_argument("--runs", type=Path, default=Path("runs/ablate"))
    p.add_argument(
        "--out",
        type=Path,
        default=Path("results/ablations"),
        help="where the study tables and figures go (default: ./results/ablations)",
    )
    p.add_argument("--summarize-only", action="store_true", help="train nothing; tabulate and plot finished runs")
    p.add_argument(
        "--latency",
        action="store_true",
        help="add GFLOPs and CPU batch-1 latency at 256x256 per arm's model to the table",
    )
    p.add_argument(
        "--extra",
        nargs=argparse.REMAINDER,
        default=[],
        help="further fit.py arguments for every run (ends the command line)",
    )
    return p


def resolve_studies(names: list[str]) -> list[Study]:
    """Study objects for names, paths or 'all'."""
    if "all" in names:
        names = available_studies()
    studies = []
    for name in names:
        try:
            path = config_path(name, STUDY_FOLDER)
        except FileNotFoundError:
            raise StudyError(
                f"{name}: no such study; choose from {', '.join(available_studies())} or give a YAML path"
            ) from None
        studies.append(load_study(path))
    return studies


def arm_run_dir(runs_root: Path, study: Study, arm: str, seed: int, records_root: Path | None = None) -> Path:
    """Where an arm's run is: trained, being trained or to be trained. An arm without overrides
    is the base config itself: every study shares that one run (the paper's choice in each of the
    four studies). An arm with the same overrides as an arm of another study (``improved``'s
    ``bce_dice`` is ``loss``'s) reuses that arm's finished run rather than training the same thing
    twice. A finished run found only as a record (``records_root``, see :func:`keep_record`)
    counts as finished."""
    own = Path(BASE_RUN) / f"seed{seed}" if not study.arms[arm] else Path(study.name) / f"{arm}_seed{seed}"
    places = [runs_root] + ([records_root] if records_root is not None else [])
    for root in places:
        if fit_cli.is_finished(root / own):
            return root / own
    if (runs_root / own).exists():
        return runs_root / own  # an interrupted run: it resumes
    for other in _equivalent_arms(study, arm) if study.arms[arm] else []:
        for root in places:
            run = root / other.study / f"{other.arm}_seed{seed}"
            if fit_cli.is_finished(run):
                return run
    return runs_root / own


def keep_record(run_dir: Path, runs_root: Path, records_root: Path) -> Path | None:
    """Copy a finished run's small files (:data:`RECORD_FILES`) to the same place under
    ``records_root``; returns the record, or None for a run that is not finished or not under
    ``runs_root`` (one read from a record already)."""
    if not fit_cli.is_finished(run_dir) or not run_dir.is_relative_to(runs_root):
        return None
    return fit_cli.copy_run_files(
        run_dir, records_root / run_dir.relative_to(runs_root), tuple((name, name) for name in RECORD_FILES)
    )


class _ArmRef(NamedTuple):
    study: str
    arm: str


def _equivalent_arms(study: Study, arm: str) -> list[_ArmRef]:
    """Arms of the other studies in ``configs/ablations`` with exactly the same overrides."""
    found = []
    for name in available_studies():
        if name == study.name:
            continue
        try:
            other = load_study(config_path(name, STUDY_FOLDER))
        except StudyError:
            continue  # a broken study file must not stop this one; it fails when run itself
        found += [_ArmRef(name, a) for a, o in other.arms.items() if o == study.arms[arm]]
    return found


def run_arm(study: Study, arm: str, seed: int, run_dir: Path, base: Path, args: argparse.Namespace) -> None:
    """Train one arm and seed (resuming an interrupted run) unless it already finished."""
    if fit_cli.is_finished(run_dir):
        print(f"{study.name}/{arm} seed {seed}: finished earlier, reusing {run_dir}")
        return
    argv = [
        *fit_cli.seeded_run_argv(base, args.data_dir / args.dataset, seed, run_dir, args.accelerator),
        *arm_argv(study.arms[arm]),
    ]
    resume = fit_cli.resume_argv(run_dir)
    if resume:
        print(f"{study.name}/{arm} seed {seed}: resuming from {resume[1]}")
        argv += resume
    print(f"{study.name}/{arm} seed {seed}: training into {run_dir}", flush=True)
    code = fit_cli.main([*argv, *args.extra])
    if code != 0:
        raise SystemExit(f"error: {study.name}/{arm} seed {seed} failed (exit {code}); see {run_dir}")


def model_costs(name: str, kwargs: dict[str, Any]) -> dict[str, str]:
    """GFLOPs per 256x256 image and batch-1 eager CPU latency (median of 10 after 2 warm-ups)."""
    model = create_model(name, **kwargs).eval()
    stats = latency(model, batch=1, size=256, warmup=2, runs=10)
    return {"GFLOPs@256": f"{flops_per_image(model) / 1e9:.2f}", "CPU ms@256": f"{stats['median_ms']:.1f}"}


def summarize(study: Study, base: Path, runs_root: Path, out: Path, seeds: list[int], costs: bool) -> Path:
    """Write the study's table (Markdown + JSON) and figure from whatever runs have finished."""
    base_config = yaml.safe_load(base.read_text())
    runs_by_arm: dict[str, list[RunResult]] = {
        arm: [read_run(arm_run_dir(runs_root, study, arm, s, out / RECORDS), arm, s) for s in seeds]
        for arm in study.arms
    }
    rows = [summarize_arm(study, arm, runs, base_config) for arm, runs in runs_by_arm.items()]
    extra = {}
    if costs:
        cache: dict[str, dict[str, str]] = {}
        for arm in study.arms:
            name, kwargs = arm_model(base_config, study.arms[arm])
            key = json.dumps([name, kwargs], sort_keys=True)
            extra[arm] = cache.setdefault(key, model_costs(name, kwargs))
    out.mkdir(parents=True, exist_ok=True)
    figure = draw_study(study, runs_by_arm, out / f"{study.name}.png")
    ranked = [r for r in rows if not math.isnan(r["best_val_dice"])]
    best = max(ranked, key=lambda r: r["best_val_dice"])["arm"] if ranked else "-"
    text = [
        f"# {study.title}",
        "",
        f"Base config `{_shown(base)}`, study `{_shown(study.path) if study.path else None}`. "
        f"One split for every arm and seed (the base config's); seeds change initialisation, order and "
        f"augmentation. Percent; mean ± std over seeds where several ran.",
        "",
        table_markdown(study, rows, extra),
        "",
        f"Best validation Dice: **{best}**. Arms are ranked by validation Dice, not by validation loss:",
        "losses of different loss functions are not comparable. Differences smaller than the seed",
        "spread of the paper arm are noise.",
        "",
        f"![{study.title}]({figure.name})",
    ]
    per_seed = per_seed_markdown(study, runs_by_arm)
    if per_seed:
        paired = draw_paired(study, paired_deltas(study, runs_by_arm), out / f"{study.name}_paired.png")
        text[-1:-1] = [
            "## Seed by seed",
            "",
            "Best validation Dice / test F1 (global) of each run, and the difference to the paper "
            "arm at the same seed (percentage points).",
            "",
            per_seed,
            "",
            *([f"![paired differences]({paired.name})", ""] if paired else []),
        ]
    if study.note:
        text[2:2] = [study.note, ""]
    (out / f"{study.name}.md").write_text("\n".join(text) + "\n")
    (out / f"{study.name}.json").write_text(
        json.dumps({"study": study.name, "title": study.title, "rows": rows, "costs": extra}, indent=2) + "\n"
    )
    return out / f"{study.name}.md"


def _shown(path: Path) -> str:
    """A config as the records name it: ``configs/...`` for a shipped one, else the path given."""
    path = Path(path)
    if path.resolve().is_relative_to(CONFIG_DIR.resolve()):
        return f"configs/{path.resolve().relative_to(CONFIG_DIR.resolve()).as_posix()}"
    return str(path)


def main(argv: list[str] | None = None) -> int:
    """Run (or summarise) the requested studies; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        studies = resolve_studies(args.studies)
    except StudyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    base = args.base or config_path(BASE_CONFIGS[args.protocol])
    protocol = args.base.stem if args.base else args.protocol
    runs_root, out = args.runs / protocol, args.out / protocol
    if not args.summarize_only and not (args.data_dir / args.dataset).is_dir():
        print(f"error: {args.data_dir / args.dataset} not found (--data-dir, --dataset)", file=sys.stderr)
        return 2
    for study in studies:
        arms = args.arms or list(study.arms)
        unknown = [a for a in arms if a not in study.arms]
        if unknown:
            print(
                f"error: {study.name} has no arm {', '.join(unknown)}; arms: {', '.join(study.arms)}", file=sys.stderr
            )
            return 2
        if not args.summarize_only:
            # The shared base run first: every study needs it, and it anchors the comparison.
            for arm in sorted(arms, key=lambda a: bool(study.arms[a])):
                for seed in args.seeds:
                    run_dir = arm_run_dir(runs_root, study, arm, seed, out / RECORDS)
                    run_arm(study, arm, seed, run_dir, base, args)
                    keep_record(run_dir, runs_root, out / RECORDS)
                    summarize(study, base, runs_root, out, args.seeds, costs=False)
        print(f"table: {summarize(study, base, runs_root, out, args.seeds, costs=args.latency)}")
    return 0
