"""The wheel alone is enough: built, installed outside the checkout, its console script runs the
quickstart, predicts and evaluates with shipped weights, and lists the models."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_WHEEL_MB = 12


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The wheel installed with ``pip --target`` (dependencies come from this environment), and
    an environment that imports it from there, not from the checkout."""
    if shutil.which("git") is None:
        pytest.skip("git is needed to tell the checkout's files")
    build = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(build),
            str(REPO_ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = build.glob("polypnet-*.whl")
    assert wheel.stat().st_size <= MAX_WHEEL_MB * 1e6, f"{wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB"
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("POLYPNET_DATA_DIR", None)
    return target, env


def _polypnet(installed: tuple[Path, dict[str, str]], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    target, env = installed
    return subprocess.run(
        [str(target / "bin" / "polypnet"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


def test_the_installed_package_is_the_one_that_runs(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    target, env = installed
    done = subprocess.run(
        [sys.executable, "-c", "import polypnet; print(polypnet.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert Path(done.stdout.strip()).is_relative_to(target)
    listed = _polypnet(installed, tmp_path, "models", "list")
    assert listed.returncode == 0 and "iam_unet" in listed.stdout
    shipped = _polypnet(installed, tmp_path, "models", "pretrained")
    assert shipped.returncode == 0 and "kvasir-seg-improved" in shipped.stdout


def test_quickstart_fit_runs_outside_the_checkout(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    done = _polypnet(
        installed, tmp_path, "fit", "--max_epochs", "1", "--trainer.enable_progress_bar", "false", "--data.repeats", "1"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert list((tmp_path / "runs" / "quickstart").glob("*/checkpoints/last.ckpt"))
    by_name = _polypnet(installed, tmp_path, "fit", "--config", "paper_cvc", "--print_config")
    assert by_name.returncode == 0 and "milestones" in by_name.stdout, by_name.stderr[-2000:]


def test_predict_and_evaluate_with_shipped_weights(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    target, _ = installed
    sample = target / "polypnet" / "data" / "resources" / "sample" / "kvasir-seg"
    pairs = tmp_path / "pairs"
    for folder in ("images", "masks"):
        (pairs / folder).mkdir(parents=True)
        for path in sorted((sample / folder).iterdir())[:2]:
            shutil.copy(path, pairs / folder / path.name)
    done = _polypnet(
        installed,
        tmp_path,
        "predict",
        str(pairs / "images"),
        "--pretrained",
        "kvasir-seg-improved",
        "--out",
        "pred",
        "--no-progress",
        "--device",
        "cpu",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(list((tmp_path / "pred" / "masks").glob("*.png"))) == 2
    done = _polypnet(
        installed,
        tmp_path,
        "evaluate",
        "--pretrained",
        "kvasir-seg-improved",
        "--data",
        str(pairs),
        "--split",
        "all",
        "--out",
        "eval",
        "--grid",
        "0",
        "--device",
        "cpu",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "eval" / "metrics.json").is_file()
