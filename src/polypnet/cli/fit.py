"""``polypnet fit``: LightningCLI training with short Trainer flags, run directories and resume.

    polypnet fit                                  # quickstart: bundled sample, CPU, ~1 min
    polypnet fit --config configs/paper_kvasir.yaml --accelerator gpu --devices 1
    polypnet fit --accelerator tpu --devices 8    # the design card's command line
    polypnet fit --config configs/paper_cvc.yaml --ckpt_path last   # resume a killed run

Every Trainer argument is accepted both as ``--trainer.NAME`` and as the short ``--NAME``.
"""

from __future__ import annotations

import inspect
import json
import logging
import shutil
import sys
import time
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, RichProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import TensorBoardLogger

from ..data import DataError, PolypDataModule
from ..experiments.configs import config_path
from ..inference.checkpoint import run_dir_of, safe_load
from ..training.callbacks import WALL_CLOCK_FILE, CurvePlot, WallClock
from ..training.host_memory import keep_freed_memory
from ..training.loggers import ResumableCSVLogger, drop_rows_from_step
from ..training.module import PolypSegModule
from .run_lock import run_folder_lock

DEFAULT_CONFIG = "quickstart"
MONITOR = "val/dice_global"
#: ``--ckpt_path`` values Lightning resolves itself rather than paths.
_LIGHTNING_CKPT_NAMES = ("last", "best", "hpc", "registry")


def trainer_argument_names() -> set[str]:
    """Names of ``lightning.Trainer.__init__`` arguments, which get short ``--NAME`` flags."""
    return {n for n in inspect.signature(L.Trainer.__init__).parameters if n != "self"}


def expand_short_flags(argv: list[str]) -> list[str]:
    """Rewrite ``--accelerator tpu`` / ``--devices=8`` into ``--trainer.accelerator ...``."""
    names = trainer_argument_names()
    out = []
    for token in argv:
        if token.startswith("--") and not token.startswith("--trainer."):
            key, sep, value = token[2:].partition("=")
            if key in names:
                token = f"--trainer.{key}{sep}{value}"
        out.append(token)
    return out


def _option(argv: list[str], name: str) -> str | None:
    """Value of ``--name X`` or ``--name=X`` in argv (last one wins), else None."""
    value = None
    for i, token in enumerate(argv):
        if token == f"--{name}" and i + 1 < len(argv):
            value = argv[i + 1]
        elif token.startswith(f"--{name}="):
            value = token.split("=", 1)[1]
    return value


def resolve_run_dir(argv: list[str], runs_root: Path = Path("runs")) -> Path:
    """Where this run writes: ``--run_dir``, or the folder of ``--ckpt_path``, or a new one.

    ``--ckpt_path last`` without ``--run_dir`` picks the newest run of the same experiment name,
    so a killed run continues in its own folder.
    """
    explicit = _option(argv, "run_dir")
    if explicit:
        return Path(explicit)
    ckpt = _option(argv, "ckpt_path")
    config = _option(argv, "config")
    name = _option(argv, "name") or (Path(config).stem if config else "quickstart")
    if ckpt and ckpt not in _LIGHTNING_CKPT_NAMES:
        path = Path(ckpt)
        return run_dir_of(path)
    if ckpt == "last":
        candidates = sorted(p for p in (runs_root / name).glob("*") if (p / "checkpoints").is_dir())
        if not candidates:
            raise FileNotFoundError(
                f"--ckpt_path last: no earlier run of {name!r} with checkpoints under {runs_root / name}"
            )
        return candidates[-1]
    return runs_root / name / time.strftime("%Y%m%d-%H%M%S")


# Keys of the parsed config that belong to one run folder: fit.py sets them for each new run.
RUN_SPECIFIC_KEYS: tuple[str, ...] = ("trainer.logger", "trainer.default_root_dir", "run_dir", "ckpt_path")


class RerunnableConfig(SaveConfigCallback):
    """Saves ``config.yaml`` without the run-folder keys, so ``--config <run>/config.yaml`` starts a
    new run with the same settings (the logger instances would not even parse back)."""

    def __init__(self, parser: LightningArgumentParser, config: Any, *args: Any, **kwargs: Any) -> None:
        config = config.clone()
        for key in RUN_SPECIFIC_KEYS:
            if key in config:
                del config[key]
        super().__init__(parser, config, *args, **kwargs)


class PolypCLI(LightningCLI):
    """LightningCLI with the run-level options ``--name``, ``--run_dir`` and ``--ckpt_path``."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--name", type=str, default=None, help="experiment name (default: the config file's stem, or 'quickstart')"
        )
        parser.add_argument("--run_dir", type=str, default=None, help="run folder (default: runs/NAME/TIMESTAMP)")
        parser.add_argument(
            "--ckpt_path",
            type=str,
            default=None,
            help="resume from a checkpoint path, or 'last' (the newest run of NAME)",
        )
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=True,
            help="evaluate the best checkpoint on the test split after training",
        )

    def before_instantiate_classes(self) -> None:
        # Lightning refuses a progress-bar callback together with enable_progress_bar=False, which
        # may come from the command line or from any config file (a run's own config.yaml too).
        if self.config.get("trainer.enable_progress_bar") is False:
            self.trainer_defaults["callbacks"] = [
                c for c in self.trainer_defaults.get("callbacks", []) if not isinstance(c, RichProgressBar)
            ]


def build_trainer_defaults(run_dir: Path, resume: bool = False) -> dict[str, Any]:
    """Loggers, checkpoints and callbacks that every run gets (a YAML can still override them).

    ``resume``: the run continues from a checkpoint in ``run_dir``, so ``metrics.csv`` is appended to.
    """
    best = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best-epoch{epoch:03d}-dice{val/dice_global:.4f}",
        auto_insert_metric_name=False,
        monitor=MONITOR,
        mode="max",
        save_top_k=1,
        save_on_train_epoch_end=True,
    )
    # Lightning refreshes a monitored callback's last.ckpt only when the monitor improves; a
    # callback without a monitor writes it after every epoch, so a crash loses one epoch at most.
    # It runs at the very end of each epoch, after the train metrics and the curves, so a resumed
    # run starts cleanly at the next epoch.
    last = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="last",
        monitor=None,
        save_top_k=1,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )
    return {
        "default_root_dir": str(run_dir),
        "logger": [
            ResumableCSVLogger(save_dir=str(run_dir), name="", version="", append=resume),
            TensorBoardLogger(save_dir=str(run_dir), name="", version="", sub_dir="tensorboard"),
        ],
        "callbacks": [
            best,  # first: trainer.checkpoint_callback, whose best_model_path "best" means
            last,
            CurvePlot(),
            WallClock(),
            LearningRateMonitor(logging_interval="epoch"),
            RichProgressBar(leave=True),
        ],
        "log_every_n_steps": 5,
    }


def is_finished(run_dir: Path) -> bool:
    """A run is finished once fit.py has written its test metrics."""
    return (run_dir / "test_metrics.json").is_file()


def seeded_run_argv(config: Path, data_root: Path, seed: int, run_dir: Path, accelerator: str) -> list[str]:
    """``polypnet fit`` arguments that train ``config`` on ``data_root`` with ``seed`` into
    ``run_dir`` (what ``reproduce`` and ``ablate`` run for each dataset and seed)."""
    return [
        "--config",
        str(config),
        "--data.root",
        str(data_root),
        "--seed_everything",
        str(seed),
        "--run_dir",
        str(run_dir),
        "--trainer.accelerator",
        accelerator,
    ]


def resume_argv(run_dir: Path) -> list[str]:
    """``--ckpt_path`` of the run's last checkpoint where an interrupted run left one, else []."""
    last = run_dir / "checkpoints" / "last.ckpt"
    return ["--ckpt_path", str(last)] if last.is_file() else []


def copy_run_files(run_dir: Path, dest: Path, files: tuple[tuple[str, str], ...]) -> Path:
    """Copy each ``(name in the run, name kept)`` the run has into ``dest``: the small files that keep
    a result checkable after the run folder and its checkpoints are gone."""
    dest.mkdir(parents=True, exist_ok=True)
    for source, name in files:
        if (run_dir / source).is_file():
            shutil.copy2(run_dir / source, dest / name)
    return dest


def main(argv: list[str] | None = None) -> int:
    """Train (then test the best checkpoint); returns the exit code."""
    keep_freed_memory()  # on CPUs, saves each step from mapping its activations anew
    with ExitStack() as held:  # the run folder's lock, released however the run ends
        return _main(list(sys.argv[1:] if argv is None else argv), held)


def _main(argv: list[str], held: ExitStack) -> int:
    if _option(argv, "config") is None and not any(a in ("-h", "--help") for a in argv):
        argv = ["--config", DEFAULT_CONFIG, *argv]
    try:
        argv = _configs_by_name(argv)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    argv = expand_short_flags(argv)
    # We hand LightningCLI the rewritten sys.argv on purpose; its warning about args beside a
    # non-empty sys.argv does not apply.
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
    # LightningCLI dumps the whole config to record the model's hyperparameters; the logger
    # instances of build_trainer_defaults do not serialize, and RerunnableConfig leaves them out.
    warnings.filterwarnings("ignore", message=r"\s*Unable to serialize instance")
    quiet_lightning_noise()
    run_dir, new_folder = None, False
    try:
        run_dir = resolve_run_dir(argv)
        new_folder = not run_dir.exists()
        held.enter_context(run_folder_lock(run_dir))
        # Read a checkpoint to resume from before anything else: safely, and once.
        resume_step = _checkpoint_step(_option(argv, "ckpt_path"), run_dir)
        cli = PolypCLI(
            PolypSegModule,
            PolypDataModule,
            run=False,
            args=argv,
            seed_everything_default=42,
            trainer_defaults=build_trainer_defaults(run_dir, resume=_option(argv, "ckpt_path") is not None),
            save_config_callback=RerunnableConfig,
            save_config_kwargs={"overwrite": True},
        )
        check_fit_arguments(cli.trainer, cli.model, cli.datamodule)
    except (MisconfigurationException, FileNotFoundError, ModuleNotFoundError, ValueError) as err:
        # ValueError: the module's, data module's or our own argument checks (CheckpointError and
        # RunFolderBusy too).
        if run_dir is not None:  # the lock made the folder of a new run: leave none behind
            _discard_failed_run(run_dir, new_folder)
        print(f"error: {_one_sentence(err, argv)}", file=sys.stderr)
        return 2
    except SystemExit:  # --help, --print_config and the parser's own errors end here
        if run_dir is not None:
            _discard_failed_run(run_dir, new_folder)
        raise
    cfg = cli.config
    ckpt_path = cfg.get("ckpt_path")
    if resume_step is not None:
        _forget_steps_from(resume_step, run_dir)
    try:
        # weights_only: Lightning reads the checkpoint again; it holds plain values only.
        cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt_path, weights_only=True)
        best = getattr(cli.trainer.checkpoint_callback, "best_model_path", "")
        if cfg.get("test_after_fit", True) and best:
            # The best checkpoint by path: "best" would make Lightning say which of our two
            # ModelCheckpoint callbacks it picked, on every run.
            results = cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path=best, weights_only=True)
            if cli.trainer.is_global_zero and results:
                path = run_dir / "test_metrics.json"
                path.write_text(json.dumps({"checkpoint": best, "metrics": results[0]}, indent=2) + "\n")
    except DataError as err:  # found at setup, before any training: the list of bad files
        _discard_failed_run(run_dir, new_folder)
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BaseException:
        _discard_failed_run(run_dir, new_folder)
        raise
    _report(cli.trainer, run_dir)
    return 0


def check_fit_arguments(trainer: L.Trainer, model: PolypSegModule, datamodule: PolypDataModule) -> None:
    """ValueError (one line) for settings that cannot train, before any data is decoded: an
    epoch or step budget of 0, an image size the network cannot take."""
    if trainer.max_epochs == 0 or trainer.max_steps == 0:
        flag = "--max_epochs" if trainer.max_epochs == 0 else "--max_steps"
        raise ValueError(f"{flag} 0 trains nothing: pass 1 or more (-1: no limit)")
    size = int(datamodule.hparams.image_size)
    was_training = model.training
    model.eval()  # eval: the check must not move BatchNorm statistics
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size))
    except (ValueError, RuntimeError) as err:
        raise ValueError(f"--data.image_size {size}: {' '.join(str(err).split())}") from None
    finally:
        model.train(was_training)


def _discard_failed_run(run_dir: Path, new_folder: bool) -> None:
    """Remove the run folder this process created when it holds no checkpoint: a failed start
    leaves no half-empty run behind (a run that saved a checkpoint is kept, to resume)."""
    if new_folder and run_dir.is_dir() and not any(run_dir.glob("checkpoints/*.ckpt")):
        shutil.rmtree(run_dir, ignore_errors=True)


def quiet_lightning_noise() -> None:
    """Silence the two messages Lightning prints on every run that are not about the run.

    Both come from inside Lightning and the fix is not ours to make: an advertisement for its
    hosted logger, and torch's deprecation of ``LeafSpec``, which Lightning 2.6 still uses.
    """
    warnings.filterwarnings(
        "ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning
    )
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoLitLoggerTip) for f in logger.filters):
            logger.addFilter(_NoLitLoggerTip())


class _NoLitLoggerTip(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "try installing [litlogger]" not in record.getMessage()


def _configs_by_name(argv: list[str]) -> list[str]:
    """Each ``--config NAME`` that is not a file becomes the shipped config of that name."""
    out = list(argv)
    for i, token in enumerate(out):
        if token == "--config" and i + 1 < len(out):
            out[i + 1] = str(config_path(out[i + 1]))
        elif token.startswith("--config="):
            out[i] = f"--config={config_path(token.split('=', 1)[1])}"
    return out


def _checkpoint_step(ckpt_path: str | None, run_dir: Path) -> int | None:
    """The ``global_step`` of the checkpoint a run resumes from (None: no checkpoint, or none
    recorded); the file is read with the one safe loader, so a hostile file is refused here."""
    if ckpt_path is None:
        return None
    path = run_dir / "checkpoints" / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path)
    if not path.is_file():
        if ckpt_path in _LIGHTNING_CKPT_NAMES:
            return None
        # Before Lightning would find out, after writing into the folder the path names.
        raise FileNotFoundError(f"--ckpt_path {ckpt_path}: no such checkpoint file")
    blob = safe_load(path)
    step = blob.get("global_step") if isinstance(blob, dict) else None
    return int(step) if step is not None else None


def _forget_steps_after(ckpt_path: str, run_dir: Path) -> None:
    """``_forget_steps_from`` the step of ``ckpt_path`` (``last``: the run's own last.ckpt)."""
    step = _checkpoint_step(ckpt_path, run_dir)
    if step is not None:
        _forget_steps_from(step, run_dir)


def _forget_steps_from(step: int, run_dir: Path) -> None:
    """Drop the ``metrics.csv`` rows past the checkpoint a run resumes from (a killed run's partial epoch)."""
    dropped = drop_rows_from_step(run_dir / "metrics.csv", step)
    if dropped:
        print(f"metrics.csv: dropped {dropped} rows logged after the checkpoint (step {step} on)", file=sys.stderr)


def _one_sentence(err: Exception, argv: list[str]) -> str:
    """The error as one line; a missing accelerator becomes one plain sentence."""
    text = " ".join(str(err).split())
    requested = _option(argv, "trainer.accelerator")
    missing_xla = isinstance(err, ModuleNotFoundError) and "torch_xla" in text
    if requested and ("accelerator is not available" in text or missing_xla):
        hint = " (install the 'tpu' extra on a TPU VM)" if requested.lower() in ("tpu", "xla") else ""
        return (
            f"--accelerator {requested} was requested but no {requested.upper()} is available on this "
            f"machine{hint}; run with --accelerator cpu or auto instead."
        )
    return text


def _report(trainer: L.Trainer, run_dir: Path) -> None:
    ckpt = trainer.checkpoint_callback
    lines = [
        f"run folder:   {run_dir}",
        f"checkpoints:  {getattr(ckpt, 'best_model_path', '') or '-'} (best), "
        f"{run_dir / 'checkpoints' / 'last.ckpt'} (last)",
        f"metrics:      {run_dir / 'metrics.csv'}, {run_dir / 'tensorboard'}, {run_dir / 'test_metrics.json'}, {run_dir / WALL_CLOCK_FILE}",
        f"curves:       {run_dir / 'curves.png'}",
        f"config/split: {run_dir / 'config.yaml'}, {run_dir / 'split.json'}",
    ]
    if trainer.is_global_zero:
        print("\n".join(lines))
