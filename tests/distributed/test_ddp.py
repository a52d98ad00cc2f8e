"""Several CPU processes (DDP): training runs, and evaluation counts every sample exactly once.

Lightning's default distributed sampler pads an evaluation split to a multiple of the world size,
so with an odd split some samples would count twice and the metrics would not be one process's.
``PolypDataModule`` shards val/test/predict without padding; the metrics are sum-state
torchmetrics synced at epoch end, so two processes must give one process's numbers: exactly for
the global metrics (integer pixel counts), to float32 rounding for the per-image means.

The loss (``val/loss``, ``test/loss``) is not compared: the Dice loss is computed over each batch,
and the batches of two processes are not those of one.

Run alone: ``.venv/bin/python -m pytest tests/distributed`` (about 1.5 minutes on 2 cores).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import DistributedSampler

from polypnet.data import PolypDataModule
from polypnet.training.metrics import METRIC_NAMES
from polypnet.training.module import PolypSegModule
from tests.distributed import ddp_eval

REPO = Path(__file__).resolve().parents[2]
HELPER = Path(ddp_eval.__file__)
# 16 bundled pairs: val 3, test 5, train 8 (odd evaluation splits: two processes get 2+1 and 3+2,
# and the test shards even hold different numbers of batches: 2 and 1).
DATA = ddp_eval.DATA
DATA_FLAGS = [f"--data.{k}={v}" for k, v in DATA.items()] + ["--data.repeats=1"]


def _fake_trainer(replicas: int, rank: int) -> SimpleNamespace:
    kwargs = {"num_replicas": replicas, "rank": rank} if replicas > 1 else None
    return SimpleNamespace(distributed_sampler_kwargs=kwargs, is_global_zero=rank == 0, current_epoch=0)


@pytest.mark.parametrize("replicas", [2, 3])
def test_eval_shards_cover_every_sample_once(tmp_path: Path, replicas: int) -> None:
    seen: dict[str, list[int]] = {"val": [], "test": [], "predict": []}
    for rank in range(replicas):
        dm = PolypDataModule(**DATA, cache=False, run_dir=str(tmp_path))
        dm.trainer = _fake_trainer(replicas, rank)
        dm.setup("fit")
        for stage, loader in (
            ("val", dm.val_dataloader()),
            ("test", dm.test_dataloader()),
            ("predict", dm.predict_dataloader()),
        ):
            assert isinstance(loader.sampler, DistributedSampler)  # Lightning keeps it
            assert not loader.drop_last
            seen[stage] += list(loader.sampler)
    assert sorted(seen["val"]) == list(range(3))
    assert sorted(seen["test"]) == sorted(seen["predict"]) == list(range(5))


def test_one_process_and_tiny_splits_use_no_distributed_sampler(tmp_path: Path) -> None:
    dm = PolypDataModule(**DATA, cache=False, run_dir=str(tmp_path))
    dm.trainer = _fake_trainer(1, 0)
    dm.setup("fit")
    assert not isinstance(dm.val_dataloader().sampler, DistributedSampler)
    dm.trainer = _fake_trainer(4, 0)  # 3 val samples for 4 processes: Lightning's padding, a warning
    with pytest.warns(UserWarning, match="3 evaluation samples for 4 processes"):
        assert not isinstance(dm.val_dataloader().sampler, DistributedSampler)
    assert isinstance(dm.test_dataloader().sampler, DistributedSampler)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """``scripts/fit.py --accelerator cpu --devices 2 --strategy ddp``: one epoch, then the test."""
    tmp = tmp_path_factory.mktemp("ddp")
    cmd = [
        sys.executable,
        str(REPO / "scripts" / "fit.py"),
        "--accelerator",
        "cpu",
        "--devices",
        "2",
        "--strategy",
        "ddp",
        "--max_epochs",
        "1",
        "--enable_progress_bar",
        "false",
        *DATA_FLAGS,
        "--run_dir",
        str(tmp / "run"),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=420, env=env)
    return tmp / "run", proc


def test_fit_trains_on_two_cpu_processes(ddp_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    run_dir, proc = ddp_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Starting with 2 processes" in proc.stdout + proc.stderr
    for name in ("checkpoints/last.ckpt", "test_metrics.json", "metrics.csv", "split.json"):
        assert (run_dir / name).is_file(), name
    split = json.loads((run_dir / "split.json").read_text())
    assert (len(split["val"]), len(split["test"])) == (3, 5)


def _csv_val_metrics(path: Path) -> dict[str, float]:
    rows = [r for r in csv.DictReader(path.open()) if r.get("val/dice_global")]
    assert len(rows) == 1, rows
    return {k: float(v) for k, v in rows[0].items() if k.startswith("val/") and v != ""}


def _weights_with_mixed_predictions(path: Path) -> None:
    """IAM-UNet weights (fresh, seeded) whose head bias puts the threshold near the median logit of
    the val and test images, so that the metrics are neither 0 nor 1 whatever the initialisation.

    The threshold sits in the middle of the widest gap between neighbouring logits around the
    median, not on a logit: the processes see other batch compositions, whose convolutions may
    differ in the last bits, and a pixel exactly at the threshold would then flip."""
    torch.manual_seed(0)
    model = PolypSegModule().eval()
    dm = PolypDataModule(**DATA, cache=False, run_dir=str(path.parent))
    dm.setup()
    images = torch.stack([s["image"] for s in (*dm.val_set, *dm.test_set)])
    with torch.no_grad():
        logits = model(images).flatten().sort().values
        middle = logits[int(0.4 * logits.numel()) : int(0.6 * logits.numel())]
        gaps = middle[1:] - middle[:-1]
        widest = int(gaps.argmax())
        assert gaps[widest] > 1e-4, f"no safe threshold: widest gap {gaps[widest]:.2e}"
        model.net.head.bias -= (middle[widest] + middle[widest + 1]) / 2
    torch.save(model.state_dict(), path)


def test_two_processes_give_the_metrics_of_one(tmp_path: Path) -> None:
    weights = tmp_path / "weights.pt"
    _weights_with_mixed_predictions(weights)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, str(HELPER), str(weights), str(tmp_path), "2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    two = json.loads((tmp_path / "metrics.json").read_text())
    counts = [json.loads((tmp_path / f"predict-rank{r}.json").read_text())["samples"] for r in (0, 1)]
    assert counts == [3, 2]  # predict: the 5 test samples, each on one process

    one = ddp_eval.evaluate(weights, tmp_path / "one", devices=1)
    assert 0 < one["val/recall_global"] < 1 and 0 < one["test/precision_global"] < 1, one  # not trivial
    for stage in ("val", "test"):
        for name in METRIC_NAMES:
            key = f"{stage}/{name}"
            # Global metrics come from integer pixel counts; per-image scores are summed in
            # float64, where adding a handful of float32 values is exact in any order: all equal.
            assert two[key] == one[key], f"{key}: 2 processes {two[key]!r}, 1 process {one[key]!r}"
