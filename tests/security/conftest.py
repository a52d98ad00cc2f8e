"""Fixtures of the untrusted-input tests: real weights and a real Lightning checkpoint, and their
hostile twins (code on unpickling, cut short)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from polypnet.models import create_model

from .files import malicious_checkpoint, malicious_state_dict, truncated_copy

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="package")
def state_dict_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain state dict of a random IAM-UNet: what ``--model iam_unet --weights`` takes."""
    path = tmp_path_factory.mktemp("weights") / "state_dict.pt"
    torch.save(create_model("iam_unet").state_dict(), path)
    return path


@pytest.fixture(scope="package")
def fit_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """A real run folder of ``polypnet fit`` (one step at 32 px, then the test split), and the
    finished process (its stderr is what a user reads)."""
    root = tmp_path_factory.mktemp("fit")
    args = [
        sys.executable,
        str(REPO / "scripts" / "fit.py"),
        "--data.image_size",
        "32",
        "--data.repeats",
        "1",
        "--max_epochs",
        "1",
        "--limit_train_batches",
        "1",
        "--limit_val_batches",
        "1",
        "--enable_progress_bar",
        "false",
        "--run_dir",
        str(root / "run"),
    ]
    proc = subprocess.run(
        args, cwd=root, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "run", proc


@pytest.fixture(scope="package")
def lightning_checkpoint(fit_run: tuple[Path, subprocess.CompletedProcess]) -> Path:
    """``last.ckpt`` of the real run: hyper-parameters, loop and optimizer state, callbacks."""
    return fit_run[0] / "checkpoints" / "last.ckpt"


@pytest.fixture()
def marker(tmp_path: Path) -> Path:
    """Where the malicious files' code would leave its mark."""
    return tmp_path / "code-ran"


@pytest.fixture()
def evil_state_dict(tmp_path: Path, marker: Path, state_dict_file: Path) -> Path:
    state = torch.load(state_dict_file, map_location="cpu", weights_only=True)
    return malicious_state_dict(tmp_path / "evil_state_dict.pt", marker, state)


@pytest.fixture()
def evil_checkpoint(tmp_path: Path, marker: Path, lightning_checkpoint: Path) -> Path:
    blob: dict[str, Any] = torch.load(lightning_checkpoint, map_location="cpu", weights_only=True)
    return malicious_checkpoint(tmp_path / "evil.ckpt", marker, blob)


@pytest.fixture()
def truncated_state_dict(tmp_path: Path, state_dict_file: Path) -> Path:
    return truncated_copy(state_dict_file, tmp_path / "cut_short.pt")


@pytest.fixture()
def images(tmp_path: Path) -> Path:
    """A folder of two small RGB images."""
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg"):
        cv2.imwrite(str(folder / name), rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    return folder
