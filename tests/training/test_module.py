"""PolypSegModule: losses, metrics, LR schedule, a fast_dev_run and learning on synthetic data."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch

from polypnet.models.outputs import binarize
from polypnet.training.losses import LOSSES, build_loss
from polypnet.training.metrics import PerImageScores, segmentation_metrics
from polypnet.training.module import PolypSegModule
from tests.synthetic import DiscDataModule


def _trainer(**kwargs) -> L.Trainer:
    defaults = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    return L.Trainer(**{**defaults, **kwargs})


@pytest.mark.parametrize("name", LOSSES)
def test_losses_take_logits_and_are_lower_for_better_predictions(name: str) -> None:
    loss = build_loss(name)
    target = torch.zeros(2, 1, 16, 16)
    target[:, :, 4:12, 4:12] = 1
    good = loss(20 * (2 * target - 1), target)
    bad = loss(-20 * (2 * target - 1), target)
    assert good < 0.05 < bad


def test_unknown_loss_is_named() -> None:
    with pytest.raises(ValueError, match="unknown loss 'focal'"):
        build_loss("focal")


def test_metrics_match_numpy() -> None:
    rng = np.random.default_rng(0)
    preds = (rng.random((5, 1, 8, 8)) > 0.5).astype(np.int64)
    target = (rng.random((5, 1, 8, 8)) > 0.6).astype(np.int64)
    preds[4] = 0
    target[4] = 0  # both empty: scores 1 per image
    metrics = segmentation_metrics()
    metrics.update(torch.from_numpy(preds), torch.from_numpy(target))
    got = {k: float(v) for k, v in metrics.compute().items()}
    tp = (preds * target).sum()
    fp = (preds * (1 - target)).sum()
    fn = ((1 - preds) * target).sum()
    assert got["dice_global"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-6)
    assert got["iou_global"] == pytest.approx(tp / (tp + fp + fn), abs=1e-6)
    assert got["precision_global"] == pytest.approx(tp / (tp + fp), abs=1e-6)
    assert got["recall_global"] == pytest.approx(tp / (tp + fn), abs=1e-6)
    dices, ious = [], []
    for p, t in zip(preds, target):
        inter, total = (p * t).sum(), p.sum() + t.sum()
        dices.append(1.0 if total == 0 else 2 * inter / total)
        ious.append(1.0 if total == 0 else inter / (total - inter))
    assert got["dice_per_image"] == pytest.approx(np.mean(dices), abs=1e-6)
    assert got["iou_per_image"] == pytest.approx(np.mean(ious), abs=1e-6)


def test_binarize_is_probability_half() -> None:
    assert binarize(torch.tensor([-0.1, 0.0, 0.1])).tolist() == [0, 0, 1]
    with pytest.raises(ValueError):
        PerImageScores("f2")


def test_lr_schedule_is_the_papers() -> None:
    module = PolypSegModule()
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    assert isinstance(opt, torch.optim.Adam)
    lrs = []
    for _epoch in range(40):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert all(lr == pytest.approx(1e-3) for lr in lrs[:30])
    assert all(lr == pytest.approx(1e-4) for lr in lrs[30:35])
    assert all(lr == pytest.approx(1e-5) for lr in lrs[35:])


def test_any_registered_model_and_kwargs() -> None:
    module = PolypSegModule(model="iam_unet", model_kwargs={"attention_position": "none"}, loss="tversky")
    assert module.net.config["attention_position"] == "none"
    assert module.hparams.loss == "tversky"


def test_fast_dev_run_on_synthetic_data() -> None:
    trainer = _trainer(fast_dev_run=2)
    module = PolypSegModule(model_kwargs={"base_width": 8})
    trainer.fit(module, datamodule=DiscDataModule(n=8, size=32, batch_size=4))
    assert torch.isfinite(trainer.callback_metrics["train/loss_step"])


def test_channels_last_training_step_runs() -> None:
    trainer = _trainer(fast_dev_run=1)
    module = PolypSegModule(model_kwargs={"base_width": 8}, channels_last=True)
    trainer.fit(module, datamodule=DiscDataModule(n=4, size=32, batch_size=2))


def test_compile_wraps_the_network_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    # A real torch.compile takes minutes on two cores; what polypnet decides is what gets compiled
    # and that checkpoints keep their keys (scripts/gpu_profile.py times the real thing on a GPU).
    compiled = []

    def fake_compile(fn, **kwargs):
        compiled.append(fn)
        return fn

    monkeypatch.setattr(torch, "compile", fake_compile)
    eager = PolypSegModule(model_kwargs={"base_width": 8})
    module = PolypSegModule(model_kwargs={"base_width": 8}, compile=True)
    assert len(compiled) == 1 and compiled[0].__self__ is module.net
    assert list(module.state_dict()) == list(eager.state_dict())
    _trainer(fast_dev_run=1).fit(module, datamodule=DiscDataModule(n=4, size=32, batch_size=2))
    compiled.clear()
    deep = PolypSegModule(model_kwargs={"base_width": 8}, compile=True, deep_supervision=0.5)
    assert [f.__func__.__name__ for f in compiled] == ["_call_impl", "forward_with_aux"]
    _trainer(fast_dev_run=1).fit(deep, datamodule=DiscDataModule(n=4, size=32, batch_size=2))


def test_learning_happens_on_synthetic_discs() -> None:
    L.seed_everything(0, verbose=False)
    trainer = _trainer(max_epochs=25, num_sanity_val_steps=0)
    module = PolypSegModule(lr=3e-3)
    dm = DiscDataModule(n=8, size=32, batch_size=4)
    trainer.fit(module, datamodule=dm)
    result = trainer.validate(module, datamodule=dm, verbose=False)[0]
    assert result["val/dice_global"] > 0.8, result
    assert set(result) >= {f"val/{m}" for m in ("dice_global", "iou_global", "dice_per_image", "iou_per_image")}


def test_overfits_eight_real_sample_images() -> None:
    """Learning happens on real polyps: 8 bundled Kvasir-SEG images, memorised at 64x64."""
    from torch.utils.data import DataLoader

    from polypnet.data import PolypDataset, find_pairs

    L.seed_everything(0, verbose=False)
    pairs = find_pairs("sample").pairs[:8]
    train = PolypDataset(pairs, image_size=64, train=False)
    trainer = _trainer(max_epochs=60, num_sanity_val_steps=0, check_val_every_n_epoch=60)
    module = PolypSegModule(lr=3e-3, milestones=[50])
    trainer.fit(module, DataLoader(train, batch_size=4, shuffle=True, drop_last=True), DataLoader(train, batch_size=8))
    result = trainer.validate(module, DataLoader(train, batch_size=8), verbose=False)[0]
    assert result["val/dice_global"] > 0.8, result


@pytest.mark.parametrize("on_xla", [False, True])
def test_example_input_for_the_model_summary_at_the_training_size(on_xla: bool) -> None:
    # Lightning's summary runs the example through the network for its FLOPs; on XLA that extra
    # forward would be compiled, so there is none.
    from types import SimpleNamespace
    from unittest import mock

    from lightning.pytorch.accelerators import CPUAccelerator, XLAAccelerator

    module = PolypSegModule()
    module._trainer = SimpleNamespace(
        strategy=object(),
        world_size=1,
        accelerator=mock.MagicMock(spec=XLAAccelerator) if on_xla else CPUAccelerator(),
        datamodule=SimpleNamespace(hparams=SimpleNamespace(image_size=96)),
    )
    module.setup("fit")
    if on_xla:
        assert module.example_input_array is None
    else:
        assert tuple(module.example_input_array.shape) == (1, 3, 96, 96)
