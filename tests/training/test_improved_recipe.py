"""The ``improved`` recipe's pieces: cosine schedule, deep supervision, strong augmentation, TTA."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from polypnet.data import PolypDataModule, sample_root
from polypnet.data.transforms import build_transforms, seed_transform
from polypnet.experiments.evaluation import evaluate
from polypnet.inference import flip_tta_logits, load_checkpoint
from polypnet.models import create_model
from polypnet.training.module import PolypSegModule, cosine_with_warmup
from tests.synthetic import DiscDataModule, DiscDataset


def _trainer(**kwargs) -> L.Trainer:
    defaults = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    return L.Trainer(**{**defaults, **kwargs})


def test_cosine_factor_warms_up_peaks_and_decays_to_the_floor() -> None:
    f = cosine_with_warmup(total_steps=100, warmup_steps=10, min_ratio=0.01)
    warm = [f(s) for s in range(10)]
    assert warm == sorted(warm) and warm[0] == pytest.approx(1 / 11) and warm[-1] < 1
    assert f(10) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.01 + 0.99 * 0.5)
    assert f(100) == pytest.approx(0.01) and f(500) == pytest.approx(0.01)
    decay = [f(s) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))


def test_cosine_schedule_steps_per_batch_through_the_trainer() -> None:
    lrs: list[float] = []

    class Record(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    module = PolypSegModule(model_kwargs={"base_width": 4}, scheduler="cosine", warmup_epochs=1, lr=1e-2)
    trainer = _trainer(max_epochs=3, callbacks=[Record()], limit_val_batches=0)
    trainer.fit(module, datamodule=DiscDataModule(n=8, size=32, batch_size=4))  # 2 steps per epoch
    assert len(lrs) == 6
    assert lrs[0] == pytest.approx(1e-2 / 3) and lrs[1] == pytest.approx(2e-2 / 3)  # warmup: 2 steps
    assert lrs[2] == pytest.approx(1e-2)
    assert lrs[2] > lrs[3] > lrs[4] > lrs[5]
    final = trainer.optimizers[0].param_groups[0]["lr"]
    assert final == pytest.approx(1e-4)  # min_lr_ratio 0.01 after the last step


def test_bad_schedule_arguments_fail_clearly() -> None:
    with pytest.raises(ValueError, match="scheduler must be one of"):
        PolypSegModule(scheduler="poly")
    with pytest.raises(ValueError, match="warmup_epochs"):
        PolypSegModule(warmup_epochs=-1)


def test_deep_supervision_heads_and_shapes() -> None:
    plain = create_model("iam_unet")
    deep = create_model("iam_unet", deep_supervision=True)
    extra = sum(p.numel() for p in deep.parameters()) - sum(p.numel() for p in plain.parameters())
    assert extra == 257 + 129 + 65  # 1x1 heads on the 256-, 128- and 64-channel decoder maps
    logits, aux = deep.forward_with_aux(torch.zeros(1, 3, 64, 64))
    assert logits.shape == (1, 1, 64, 64)
    assert [a.shape[-1] for a in aux] == [8, 16, 32]
    with pytest.raises(RuntimeError, match="deep_supervision=True"):
        plain.forward_with_aux(torch.zeros(1, 3, 64, 64))


def test_deep_supervision_trains_and_its_checkpoint_loads_without_the_heads(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = PolypSegModule(model_kwargs={"base_width": 4}, deep_supervision=0.4)
    dm = DiscDataModule(n=4, size=32, batch_size=2)
    trainer = _trainer(max_epochs=1, default_root_dir=tmp_path)
    trainer.fit(module, datamodule=dm)
    assert torch.isfinite(trainer.callback_metrics["train/loss_step"])
    ckpt = tmp_path / "deep.ckpt"
    trainer.save_checkpoint(ckpt)
    net, hparams = load_checkpoint(ckpt)
    assert hparams["deep_supervision"] == 0.4 and not hasattr(net, "aux_heads")
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(x), module.net.eval()(x))


def test_deep_supervision_loss_adds_the_weighted_aux_losses() -> None:
    torch.manual_seed(0)
    module = PolypSegModule(model_kwargs={"base_width": 4}, deep_supervision=0.5).eval()
    batch = DiscDataset(n=2, size=32)
    images = torch.stack([b["image"] for b in batch.items])
    masks = torch.stack([b["mask"] for b in batch.items])
    with torch.no_grad():
        logits, loss = module._deeply_supervised_loss(images, masks)
        _, aux = module.net.forward_with_aux(images)
        up = [torch.nn.functional.interpolate(a, size=(32, 32), mode="bilinear", align_corners=False) for a in aux]
        expected = module.loss_fn(logits, masks) + 0.5 * sum(module.loss_fn(u, masks) for u in up) / 3
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)


def test_deep_supervision_needs_a_model_with_heads() -> None:
    with pytest.raises((ValueError, TypeError)):
        PolypSegModule(model="unet", deep_supervision=0.4)


def test_strong_augmentation_keeps_masks_binary_and_differs_from_the_papers() -> None:
    rng = np.random.default_rng(0)
    image = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 20:44] = 1
    paper, strong = build_transforms(64, True), build_transforms(64, True, augment="strong")
    differ = 0
    for seed in range(20):
        seed_transform(paper, seed)
        seed_transform(strong, seed)
        a, b = paper(image=image, mask=mask), strong(image=image, mask=mask)
        assert set(b["mask"].unique().tolist()) <= {0, 1} and b["image"].shape == (3, 64, 64)
        differ += not torch.equal(a["image"], b["image"])
    assert differ >= 10
    with pytest.raises(ValueError, match="augment must be one of"):
        build_transforms(64, True, augment="heavy")


def test_datamodule_uses_the_strong_pipeline_for_training_only(tmp_path: Path) -> None:
    dm = PolypDataModule(root=str(sample_root()), image_size=32, batch_size=2, augment="strong", run_dir=str(tmp_path))
    dm.setup()
    names = [type(t).__name__ for t in dm.train_set.transform.transforms]
    assert {"Affine", "ColorJitter", "ElasticTransform"} <= set(names)
    assert "ColorJitter" not in [type(t).__name__ for t in dm.val_set.transform.transforms]
    with pytest.raises(ValueError, match="augment must be one of"):
        PolypDataModule(augment="heavy")


def test_flip_tta_is_the_logit_of_the_mean_flipped_probability() -> None:
    def ramp(x: torch.Tensor) -> torch.Tensor:  # not flip-equivariant: TTA must change it
        w = x.shape[-1]
        return x[:, :1] + torch.linspace(-3, 3, w)

    x = torch.rand(2, 3, 8, 8)
    got = flip_tta_logits(ramp, x)
    p = torch.sigmoid(ramp(x)) + torch.sigmoid(ramp(x.flip(3)).flip(3)) + torch.sigmoid(ramp(x.flip(2)).flip(2))
    assert torch.allclose(got, torch.logit(p / 3), atol=1e-5)
    assert not torch.allclose(got, ramp(x), atol=1e-3)


def test_evaluate_with_tta_scores_the_averaged_prediction() -> None:
    torch.manual_seed(0)
    model = create_model("iam_unet", base_width=4).eval()
    from polypnet.data import PolypDataset

    dataset = PolypDataset.from_root("sample", image_size=32, cache=False)
    with torch.no_grad():  # split the random logits near 50/50: predictions neither empty nor full
        images = torch.stack([dataset[i]["image"] for i in range(len(dataset))])
        model.head.bias -= model(images).median()
    plain = evaluate(model, dataset, progress=False)
    tta = evaluate(model, dataset, progress=False, tta=True)
    assert plain.summary["images"] == tta.summary["images"] == len(dataset)
    assert not math.isclose(plain.summary["dice_global"], tta.summary["dice_global"], abs_tol=1e-9)


def test_rescale_batch_rounds_to_the_network_stride_and_keeps_masks_binary() -> None:
    from polypnet.training.module import SCALE_MULTIPLE, rescale_batch, scaled_size

    assert [scaled_size(128, s) for s in (0.75, 1.0, 1.25)] == [96, 128, 160]
    assert [scaled_size(256, s) for s in (0.75, 1.25)] == [192, 320]
    assert scaled_size(32, 0.1) == SCALE_MULTIPLE
    images = torch.rand(2, 3, 64, 64)
    masks = (torch.rand(2, 1, 64, 64) > 0.5).to(torch.uint8)
    batch = {"image": images, "mask": masks, "id": ["a", "b"]}
    out = rescale_batch(batch, 1.25)
    assert out["image"].shape == (2, 3, 80, 80) and out["mask"].shape == (2, 1, 80, 80)
    assert out["mask"].dtype == torch.uint8 and set(out["mask"].unique().tolist()) <= {0, 1}
    assert out["id"] == ["a", "b"]
    assert rescale_batch(batch, 1.0) is batch


def test_train_scales_take_turns_by_global_step_and_leave_validation_alone() -> None:
    sizes: dict[str, list[int]] = {"train": [], "val": []}

    class Spy(PolypSegModule):
        def _shared_step(self, batch, stage):
            sizes[stage].append(batch["image"].shape[-1])
            return super()._shared_step(batch, stage)

    module = Spy(model_kwargs={"base_width": 4}, train_scales=[0.5, 1.0, 1.5])
    trainer = _trainer(max_epochs=2, limit_train_batches=2, limit_val_batches=1)
    trainer.fit(module, datamodule=DiscDataModule(n=8, size=32, batch_size=4))
    assert sizes["train"] == [16, 32, 48, 16]  # steps 0..3 across both epochs
    assert set(sizes["val"]) == {32}
    with pytest.raises(ValueError, match="train_scales"):
        PolypSegModule(train_scales=[])
    with pytest.raises(ValueError, match="train_scales"):
        PolypSegModule(train_scales=[1.0, 0.0])
