"""The real Lightning XLA path (``accelerator="tpu"``) on torch_xla's CPU device.

Runs only where torch_xla is installed (the ``tpu`` extra: ``make test-xla`` builds ``.venv-xla``
and runs this folder with ``PJRT_DEVICE=CPU``); the main suite skips it.

Lightning 2.6 accepts ``accelerator="tpu"`` only when ``XLAAccelerator.is_available()`` finds TPU
metadata, so the fixture ``xla_as_tpu`` declares the PJRT CPU device a one-core TPU (in these tests
only). The checks read torch_xla's own counters (``torch_xla.debug.metrics``): after the first
epoch, which compiles every graph once, training and validation steps run cached programs (the
number of compilations stops growing) and the training steps fetch nothing from the device.

A tiny registered model keeps the compilations short on 2 CPU cores; the IAM-UNet variant is
marked ``slow`` (10-15 minutes of XLA compilation on 2 CPU cores) and ``make test-xla`` leaves it
out (run it with ``make test-xla XLA_PYTEST_ARGS=``).
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

if importlib.util.find_spec("torch_xla") is None:
    pytest.skip("torch_xla is not installed (the tpu extra: make test-xla)", allow_module_level=True)
os.environ.setdefault("PJRT_DEVICE", "CPU")  # before torch_xla starts its runtime

import lightning as L  # noqa: E402
import torch  # noqa: E402
import torch_xla  # noqa: E402
import torch_xla.debug.metrics as met  # noqa: E402
from lightning.fabric.accelerators import xla as fabric_xla  # noqa: E402
from lightning.pytorch.accelerators import XLAAccelerator  # noqa: E402
from torch import nn  # noqa: E402

from polypnet.cli import fit as fit_cli  # noqa: E402
from polypnet.data import PolypDataModule  # noqa: E402
from polypnet.models import list_models, register_model  # noqa: E402
from polypnet.training.metrics import segmentation_metrics  # noqa: E402
from polypnet.training.module import PolypSegModule, _always, _xla_gather  # noqa: E402

TINY = "_xla_tiny"
if TINY not in list_models():

    @register_model(TINY, "test only: conv-BN-ReLU-conv, logits (B, 1, H, W)")
    def _xla_tiny(**_: Any) -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 1, 1))


# The bundled sample at 32x32, batch 2: train 9 -> 4 steps (drop_last), val 5 -> batches of
# 2, 2 and 1 (a partial last batch: one more compiled graph, not one per epoch), test 2.
DATA = dict(root="sample", image_size=32, batch_size=2, repeats=1, val_fraction=0.3, test_fraction=0.1)


@pytest.fixture
def xla_as_tpu() -> Iterator[None]:
    """Lightning takes torch_xla's PJRT CPU device for a one-core TPU."""
    with (
        mock.patch.object(fabric_xla.XLAAccelerator, "is_available", return_value=True),
        mock.patch.object(fabric_xla.XLAAccelerator, "auto_device_count", return_value=1),
        mock.patch.object(XLAAccelerator, "is_available", return_value=True),
        mock.patch.object(XLAAccelerator, "auto_device_count", return_value=1),
    ):
        yield


def _count(name: str) -> int:
    data = met.metric_data(name)
    return int(data[0]) if data else 0


class XlaCounters(L.Callback):
    """(stage, epoch, batch, compilations, transfers from the device) after every batch, and at
    the end of each validation epoch (batch -1: after the last batch's graph ran)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, int, int, int]] = []

    def _row(self, trainer: L.Trainer, stage: str, batch_idx: int) -> None:
        if not trainer.sanity_checking:
            self.rows.append(
                (stage, trainer.current_epoch, batch_idx, _count("CompileTime"), _count("TransferFromDeviceTime"))
            )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        self._row(trainer, "train", batch_idx)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:  # noqa: ANN001
        self._row(trainer, "val", batch_idx)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:  # noqa: ANN001
        self._row(trainer, "val", -1)

    def report(self) -> str:
        return "\n".join(f"{s:5} epoch {e} batch {b}: {c} compilations, {t} transfers" for s, e, b, c, t in self.rows)


def _assert_no_recompilation(counters: XlaCounters, epochs: int, settled_from: int = 1) -> None:
    """Every epoch ran 4 training steps and 3 validation batches; from epoch ``settled_from`` on,
    the number of compilations never changes; before it, it does not change within an epoch
    after the first one (no compilation per step)."""
    rows = counters.rows
    for epoch in range(epochs):
        seen = [(s, b) for s, e, b, _, _ in rows if e == epoch]
        assert seen == [("train", i) for i in range(4)] + [("val", i) for i in (0, 1, 2, -1)], seen
        if 1 <= epoch < settled_from:
            within = {c for _, e, _, c, _ in rows if e == epoch}
            assert len(within) == 1, f"compilations grew during epoch {epoch}:\n{counters.report()}"
    later = {c for _, e, _, c, _ in rows if e >= settled_from}
    assert len(later) == 1, f"compilations grew from epoch {settled_from} on:\n{counters.report()}"


def _fit(model: PolypSegModule, tmp_path: Path, epochs: int, **trainer_kwargs: Any) -> tuple[L.Trainer, XlaCounters]:
    counters = XlaCounters()
    trainer = L.Trainer(
        accelerator="tpu",
        devices=1,
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        log_every_n_steps=50,
        callbacks=[counters],
        **trainer_kwargs,
    )
    trainer.fit(model, datamodule=PolypDataModule(**DATA, run_dir=str(tmp_path)))
    return trainer, counters


def test_steps_reuse_their_compiled_graphs(xla_as_tpu: None, tmp_path: Path) -> None:
    trainer, counters = _fit(PolypSegModule(model=TINY), tmp_path, epochs=3)  # with the tqdm bar
    assert trainer.strategy.root_device.type == "xla"
    _assert_no_recompilation(counters, epochs=3)
    # No host transfer inside an epoch's training steps (the progress bar included); Lightning
    # fetches the epoch-level values only at the epoch's end.
    for epoch in (1, 2):
        transfers = {t for s, e, _, _, t in counters.rows if s == "train" and e == epoch}
        assert len(transfers) == 1, f"device->host transfers during epoch {epoch}:\n{counters.report()}"
    dice = float(trainer.callback_metrics["val/dice_global"])
    assert 0.0 <= dice <= 1.0


def test_fit_script_on_xla(xla_as_tpu: None, tmp_path: Path) -> None:
    """``scripts/fit.py --accelerator tpu --devices 1``: rich progress bar, checkpoints, curves, the
    test of the best checkpoint. ModelCheckpoint first compares with an earlier best at the end of
    epoch 1 (a tiny graph, compiled once), so the count settles from epoch 2 on."""
    counters = XlaCounters()
    defaults = fit_cli.build_trainer_defaults

    def with_counters(*args: Any, **kwargs: Any) -> dict[str, Any]:
        out = defaults(*args, **kwargs)
        out["callbacks"] = [*out["callbacks"], counters]
        return out

    run_dir = tmp_path / "run"
    argv = [
        "--accelerator",
        "tpu",
        "--devices",
        "1",
        "--max_epochs",
        "4",
        "--model.model",
        TINY,
        *[f"--data.{k}={v}" for k, v in DATA.items()],
        "--run_dir",
        str(run_dir),
    ]
    with mock.patch.object(fit_cli, "build_trainer_defaults", with_counters):
        assert fit_cli.main(argv) == 0
    _assert_no_recompilation(counters, epochs=4, settled_from=2)
    metrics = json.loads((run_dir / "test_metrics.json").read_text())["metrics"]
    assert 0.0 <= metrics["test/dice_global"] <= 1.0
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and (run_dir / "curves.png").is_file()


def test_xla_metric_gather_gives_the_plain_values() -> None:
    """The multi-core sync of the metrics (``_xla_gather``: an XLA all-gather, because Lightning's
    XLAStrategy starts no torch.distributed group) on one core: the values of a plain compute. The
    CPU cannot run several XLA cores under Lightning (its threaded PJRT CPU collectives deadlock,
    Lightning's own BoringModel included), so the multi-core case itself needs a TPU."""
    g = torch.Generator().manual_seed(0)
    preds = (torch.rand(5, 1, 16, 16, generator=g) > 0.5).long()
    target = (torch.rand(5, 1, 16, 16, generator=g) > 0.7).long()
    plain = segmentation_metrics()
    plain.update(preds, target)
    expected = {k: float(v) for k, v in plain.compute().items()}

    device = torch_xla.device()
    synced = segmentation_metrics().to(device)
    for metric in synced.values():
        metric.dist_sync_fn, metric.distributed_available_fn = _xla_gather, _always
    synced.update(preds[:3].to(device), target[:3].to(device))
    synced.update(preds[3:].to(device), target[3:].to(device))
    got = {k: float(v) for k, v in synced.compute().items()}
    assert got == pytest.approx(expected, abs=1e-6)


@pytest.mark.slow
def test_iam_unet_steps_reuse_their_compiled_graphs(xla_as_tpu: None, tmp_path: Path) -> None:
    """The same check with the real IAM-UNet (narrow: base width 8); slow on the CPU."""
    model = PolypSegModule(model_kwargs={"base_width": 8})
    _, counters = _fit(model, tmp_path, epochs=3, enable_progress_bar=False, num_sanity_val_steps=0)
    _assert_no_recompilation(counters, epochs=3)
