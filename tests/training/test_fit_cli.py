"""scripts/fit.py: short Trainer flags, run folders, the TPU message, a quickstart run and resume."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from polypnet.cli.fit import expand_short_flags, resolve_run_dir

REPO = Path(__file__).resolve().parents[2]
FIT = [sys.executable, str(REPO / "scripts" / "fit.py")]
# A fast variant of the quickstart: 64x64 sample images, one repeat.
FAST = [
    "--data.image_size",
    "64",
    "--data.repeats",
    "1",
    "--enable_progress_bar",
    "false",
    "--trainer.deterministic",
    "true",
]


def _run(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*FIT, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def test_short_flags_map_to_the_trainer() -> None:
    argv = [
        "--accelerator",
        "tpu",
        "--devices=8",
        "--precision",
        "bf16-true",
        "--max_epochs",
        "3",
        "--config",
        "x.yaml",
        "--data.batch_size",
        "2",
        "--trainer.devices",
        "1",
    ]
    assert expand_short_flags(argv) == [
        "--trainer.accelerator",
        "tpu",
        "--trainer.devices=8",
        "--trainer.precision",
        "bf16-true",
        "--trainer.max_epochs",
        "3",
        "--config",
        "x.yaml",
        "--data.batch_size",
        "2",
        "--trainer.devices",
        "1",
    ]


def test_run_dir_resolution(tmp_path: Path) -> None:
    assert resolve_run_dir(["--run_dir", "a/b"], tmp_path) == Path("a/b")
    new = resolve_run_dir(["--config", "configs/paper_cvc.yaml"], tmp_path)
    assert new.parent == tmp_path / "paper_cvc"
    ckpt = tmp_path / "x" / "run1" / "checkpoints" / "last.ckpt"
    assert resolve_run_dir(["--ckpt_path", str(ckpt)], tmp_path) == ckpt.parent.parent
    with pytest.raises(FileNotFoundError, match="no earlier run of 'quickstart'"):
        resolve_run_dir(["--ckpt_path", "last"], tmp_path)
    for stamp in ("20260101-000000", "20260102-000000"):
        (tmp_path / "quickstart" / stamp / "checkpoints").mkdir(parents=True)
    assert resolve_run_dir(["--ckpt_path", "last"], tmp_path).name == "20260102-000000"


CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_every_config_parses_against_the_cli(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # --print_config validates every key and type against the module and datamodule signatures,
    # so a misspelt option in a config fails here, not an hour into someone's run.
    from polypnet.cli import fit as fit_cli

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        fit_cli.main(["--config", str(config), "--print_config"])
    assert exit_info.value.code in (0, None), capsys.readouterr().err[-2000:]
    printed = capsys.readouterr().out
    assert "model:" in printed and "data:" in printed


def test_tpu_command_fails_with_one_clear_sentence(tmp_path: Path) -> None:
    proc = _run(["--accelerator", "tpu", "--devices", "8"], tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "TPU" in error_lines[0] and "--accelerator tpu" in error_lines[0]
    assert not (tmp_path / "runs").exists()  # a failed start leaves no run folder behind


def test_help_lists_short_and_model_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process: help trains nothing, and a fresh process would spend its time importing.
    from polypnet.cli import fit as fit_cli

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        fit_cli.main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "--trainer.accelerator" in out and "--model.loss" in out
    assert "--ckpt_path" in out and "--data.root" in out
    assert not (tmp_path / "runs").exists()


def test_run_folder_lock_admits_one_holder_at_a_time(tmp_path: Path) -> None:
    from polypnet.cli.run_lock import RunFolderBusy, run_folder_lock

    run = tmp_path / "runs" / "x" / "run"
    with run_folder_lock(run):
        assert (run / ".lock").read_text().strip() == str(os.getpid())
        with pytest.raises(RunFolderBusy, match=f"in use by another training process \\(pid {os.getpid()}\\)"):
            with run_folder_lock(run):
                pass
    with run_folder_lock(run):  # released: a resume may take it again
        (run / "metrics.csv").write_text("epoch\n")
    assert (run / "metrics.csv").is_file()
    with run_folder_lock(tmp_path / "a" / "b"):
        (tmp_path / "a" / "b" / ".lock").unlink()
    assert not (tmp_path / "a").exists()  # left empty: the folders it made are gone


def test_a_second_fit_on_a_run_folder_in_use_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    from polypnet.cli.run_lock import run_folder_lock

    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("epoch,step\n0,5\n")
    with run_folder_lock(run):
        proc = _run([*FAST, "--max_epochs", "1", "--run_dir", str(run)], tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "in use by another training process" in error_lines[0], proc.stderr[-2000:]
    assert sorted(p.name for p in run.iterdir()) == [".lock", "metrics.csv"]
    assert (run / "metrics.csv").read_text() == "epoch,step\n0,5\n"


def _run_dir_contents_ok(run_dir: Path) -> None:
    for name in (
        "config.yaml",
        "split.json",
        "metrics.csv",
        "curves.png",
        "test_metrics.json",
        "wall_clock.json",
        "checkpoints/last.ckpt",
    ):
        assert (run_dir / name).is_file(), f"{name} missing in {run_dir}: {sorted(p.name for p in run_dir.rglob('*'))}"
    assert list((run_dir / "checkpoints").glob("best-*.ckpt"))
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_quickstart_run_writes_everything(tmp_path: Path) -> None:
    proc = _run([*FAST, "--max_epochs", "2", "--run_dir", str(tmp_path / "run")], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _run_dir_contents_ok(tmp_path / "run")
    import torch

    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["epoch"] == 1  # refreshed after every epoch, not only when validation improves
    assert "run folder:" in proc.stdout and "curves.png" in proc.stdout
    clock = json.loads((tmp_path / "run" / "wall_clock.json").read_text())
    assert clock["parts"] == 1 and 0 < clock["seconds"] < 300
    assert last["callbacks"]["WallClock"]["seconds"] <= clock["seconds"]  # the test after fit counts too
    metrics = json.loads((tmp_path / "run" / "test_metrics.json").read_text())["metrics"]
    assert 0.0 <= metrics["test/dice_global"] <= 1.0
    assert {"test/iou_global", "test/dice_per_image", "test/iou_per_image"} <= set(metrics)

    # evaluate.py on the best checkpoint alone: the run folder supplies data root, size and split,
    # and its test split scores as the Trainer's test did.
    from polypnet.cli.evaluate import main as evaluate_main

    best = next((tmp_path / "run" / "checkpoints").glob("best-*.ckpt"))
    assert evaluate_main(["--checkpoint", str(best), "--grid", "0"]) == 0
    evaluated = json.loads((tmp_path / "run" / "eval-test" / "metrics.json").read_text())
    assert evaluated["split"] == "test" and evaluated["image_size"] == 64
    for name in ("dice_global", "iou_global", "dice_per_image", "iou_per_image"):
        assert evaluated["metrics"][name] == pytest.approx(metrics[f"test/{name}"], abs=1e-6)


def test_a_runs_config_yaml_starts_a_new_run_with_the_same_settings(tmp_path: Path) -> None:
    first = _run([*FAST, "--max_epochs", "1", "--run_dir", str(tmp_path / "first")], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Unable to serialize" not in first.stderr
    # the model summary runs an example image through the network: FLOPs, not "0"
    assert re.search(r"Total FLOPs: [1-9]", first.stdout), first.stdout[-2000:]
    saved = (tmp_path / "first" / "config.yaml").read_text()
    assert "default_root_dir" not in saved and "logger:" not in saved and str(tmp_path / "first") not in saved

    # enable_progress_bar=false now comes from the file, not the command line
    again = _run(["--config", str(tmp_path / "first" / "config.yaml"), "--run_dir", str(tmp_path / "again")], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / "again" / "test_metrics.json").is_file() and (tmp_path / "again" / "split.json").is_file()
    assert sorted(p.name for p in (tmp_path / "first").iterdir()) == sorted(
        p.name for p in (tmp_path / "again").iterdir()
    )
    assert (tmp_path / "again" / "config.yaml").read_text().split("\n", 1)[1] == saved.split("\n", 1)[1]


@pytest.mark.slow
def test_resume_after_kill_gives_the_same_final_metrics(tmp_path: Path) -> None:
    epochs = ["--max_epochs", "4"]
    straight = _run([*FAST, *epochs, "--run_dir", str(tmp_path / "straight")], tmp_path)
    assert straight.returncode == 0, straight.stderr[-3000:]

    killed_dir = tmp_path / "runs" / "quickstart" / "20260101-000000"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*FIT, *FAST, *epochs, "--run_dir", str(killed_dir)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    last = killed_dir / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert last.exists() and proc.poll() is None, "the run finished or failed before it could be killed"
    time.sleep(0.3)  # into the next epoch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed_dir / "test_metrics.json").exists()

    resumed = _run([*FAST, *epochs, "--ckpt_path", "last"], tmp_path)  # finds runs/quickstart/<newest>
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = json.loads((tmp_path / "straight" / "test_metrics.json").read_text())["metrics"]
    b = json.loads((killed_dir / "test_metrics.json").read_text())["metrics"]
    assert a == pytest.approx(b, rel=1e-6, abs=1e-7)
    # metrics.csv keeps the epochs before the kill (Lightning alone would delete them on resume).
    with (killed_dir / "metrics.csv").open(newline="") as f:
        val_epochs = {int(r["epoch"]) for r in csv.DictReader(f) if r.get("val/loss")}
    assert val_epochs == {0, 1, 2, 3}
    # ... and no training step twice (rows the killed epoch flushed are dropped on resume)
    with (killed_dir / "metrics.csv").open(newline="") as f:
        steps = [r["step"] for r in csv.DictReader(f) if r.get("train/loss_step")]
    assert len(steps) == len(set(steps))
    # The wall clock goes on from the checkpoint: two parts, not less than the part before the kill.
    clock = json.loads((killed_dir / "wall_clock.json").read_text())
    assert clock["parts"] == 2 and clock["seconds"] > 0


def test_wall_clock_continues_a_resumed_run_and_ignores_the_test_restore() -> None:
    from polypnet.training.callbacks import WallClock

    resumed = WallClock()
    resumed.load_state_dict({"seconds": 100.0, "parts": 1})  # restored from the last checkpoint
    resumed.setup(None, None, "fit")
    resumed.on_train_start(None, None)
    assert resumed.parts == 2 and resumed.seconds() >= 100.0
    before_test = resumed.seconds()
    resumed.load_state_dict({"seconds": 5.0, "parts": 1})  # trainer.test(ckpt_path="best") restores an older state
    resumed.setup(None, None, "test")
    assert resumed.seconds() >= before_test and resumed.state_dict()["parts"] == 2


def test_wall_clock_of_a_run_resumed_from_a_checkpoint_older_than_the_clock_is_unknown(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from polypnet.training.callbacks import WallClock, read_wall_clock

    clock = WallClock()  # nothing restored, yet the trainer resumes at epoch 3
    trainer = SimpleNamespace(current_epoch=3, log_dir=str(tmp_path), is_global_zero=True)
    clock.setup(trainer, None, "fit")
    clock.on_train_start(trainer, None)
    clock.on_fit_end(trainer, None)
    assert json.loads((tmp_path / "wall_clock.json").read_text()) == {"seconds": None, "parts": 1}
    assert read_wall_clock(tmp_path) is None
    fresh = WallClock()
    fresh.setup(SimpleNamespace(current_epoch=0), None, "fit")
    fresh.on_train_start(SimpleNamespace(current_epoch=0), None)
    assert fresh.seconds() >= 0.0


def _pickled_globals(checkpoint: Path) -> set[str]:
    """The module paths a checkpoint's pickle refers to (what unpickling would import)."""
    import io
    import pickletools
    import zipfile

    with zipfile.ZipFile(checkpoint) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith("data.pkl")]
        listing = io.StringIO()
        pickletools.dis(archive.read(name), out=listing)
    text = listing.getvalue()
    return set(re.findall(r"GLOBAL\s+'(\S+) ", text)) | set(
        re.findall(r"BINUNICODE '([\w.]+)'\n[^\n]*BINUNICODE '\w+'\n[^\n]*STACK_GLOBAL", text)
    )


def test_a_committed_run_folder_still_trains_and_resumes(tmp_path: Path) -> None:
    """Run folders made before the layout by concern (config.yaml under results/) still parse and
    train, and a checkpoint names no polypnet module: moving modules cannot break loading it."""
    config = REPO / "results" / "improved" / "cvc-clinicdb_seed42_run" / "config.yaml"
    tiny = [
        *FAST,
        "--data.root",
        "sample",
        "--data.batch_size",
        "4",
        "--data.num_workers",
        "0",
        "--precision",
        "32-true",
        "--accelerator",
        "cpu",
        "--test_after_fit",
        "false",
    ]
    run_dir = tmp_path / "run"
    first = _run(["--config", str(config), *tiny, "--max_epochs", "1", "--run_dir", str(run_dir)], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    last = run_dir / "checkpoints" / "last.ckpt"
    assert not any(g.startswith("polypnet") for g in _pickled_globals(last)), _pickled_globals(last)
    again = _run(
        ["--config", str(config), *tiny, "--max_epochs", "2", "--run_dir", str(run_dir), "--ckpt_path", str(last)],
        tmp_path,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    epochs = {row.split(",")[0] for row in (run_dir / "metrics.csv").read_text().splitlines()[1:]}
    assert {"0", "1"} <= epochs
