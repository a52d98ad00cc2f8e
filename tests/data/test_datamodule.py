"""PolypDataModule on the bundled sample: batches, split file, determinism, LightningCLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from polypnet.data import DataError, PolypDataModule, load_split


@pytest.mark.parametrize(("batch_size", "image_size"), [(8, 128), (4, 256), (1, 128)])
def test_sample_batches(batch_size: int, image_size: int) -> None:
    dm = PolypDataModule(batch_size=batch_size, image_size=image_size)
    dm.setup("fit")
    assert dm.split["counts"] == {"train": 12, "val": 2, "test": 2}
    assert dm.split["layout"] == "kvasir-seg" and dm.split["kind"] == "random"
    train = dm.train_dataloader()
    assert len(train) == 12 // batch_size  # drop_last
    for batch in train:
        assert batch["image"].shape == (batch_size, 3, image_size, image_size)
        assert batch["image"].dtype == torch.float32
        assert 0 <= batch["image"].min() <= batch["image"].max() <= 1
        assert batch["mask"].shape == (batch_size, 1, image_size, image_size)
        assert batch["mask"].dtype == torch.float32
        assert set(batch["mask"].unique().tolist()) <= {0.0, 1.0}
        assert len(batch["name"]) == batch_size and batch["orig_size"].shape == (batch_size, 2)
    val = list(dm.val_dataloader())
    assert [n for b in val for n in b["name"]] == dm.split["val"]  # no shuffle, no drop_last
    assert [n for b in dm.test_dataloader() for n in b["name"]] == dm.split["test"]


def test_split_json_is_written_to_run_dir_and_reloadable(tmp_path: Path) -> None:
    dm = PolypDataModule(batch_size=4, image_size=64, run_dir=str(tmp_path / "run"), seed=3)
    dm.setup()
    assert dm.split_path == tmp_path / "run" / "split.json"
    saved = json.loads(dm.split_path.read_text())
    assert saved["seed"] == 3 and saved["train"] == dm.split["train"]
    again = PolypDataModule(split="file", split_file=str(dm.split_path), batch_size=4, image_size=64)
    again.setup()
    assert again.split["test"] == dm.split["test"] and again.split_path is None
    assert load_split(dm.split_path)["val"] == dm.split["val"]


def test_split_json_goes_to_trainer_log_dir(tmp_path: Path) -> None:
    trainer = L.Trainer(default_root_dir=tmp_path, logger=False, max_epochs=1, enable_progress_bar=False)
    dm = PolypDataModule(batch_size=4, image_size=64)
    dm.trainer = trainer
    dm.setup("fit")
    assert dm.split_path == Path(trainer.log_dir) / "split.json" and dm.split_path.exists()


def test_repeats_multiply_the_training_epoch() -> None:
    dm = PolypDataModule(batch_size=8, image_size=64, repeats=4)
    dm.setup()
    assert len(dm.train_set) == 48 and len(dm.train_dataloader()) == 6
    assert len(dm.val_set) == 2


def test_same_seed_same_batches() -> None:
    def first_batches() -> list[torch.Tensor]:
        L.seed_everything(5, workers=True, verbose=False)
        dm = PolypDataModule(batch_size=4, image_size=64, seed=11)
        dm.setup()
        return [b["image"] for b in dm.train_dataloader()]

    for a, b in zip(first_batches(), first_batches()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_workers_produce_valid_batches() -> None:
    dm = PolypDataModule(batch_size=4, image_size=64, num_workers=2)
    dm.setup()
    batches = list(dm.train_dataloader())
    assert len(batches) == 3 and sorted(n for b in batches for n in b["name"]) == sorted(dm.split["train"])


def test_bad_arguments_fail_early() -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        PolypDataModule(split="kfold")
    with pytest.raises(ValueError, match="split_file"):
        PolypDataModule(split="file")
    with pytest.raises(DataError, match="lower batch_size or raise repeats"):
        PolypDataModule(batch_size=16).setup()
    with pytest.raises(DataError, match="root folder not found"):
        PolypDataModule(root="/no/such/folder").setup()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # jsonargparse deprecations inside LightningCLI
def test_lightning_cli_configures_the_datamodule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("jsonargparse", reason="LightningCLI needs jsonargparse[signatures]")
    from lightning.pytorch.cli import LightningCLI

    monkeypatch.setattr(sys, "argv", ["fit"])  # pytest's own arguments are not the CLI's

    class Tiny(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 1, 1)

    config = tmp_path / "config.yaml"
    config.write_text("data:\n  root: sample\n  batch_size: 4\n  image_size: 128\n  split_file: null\n  repeats: 2\n")
    cli = LightningCLI(
        Tiny, PolypDataModule, run=False, args=["--config", str(config)],
        save_config_callback=None, seed_everything_default=0,
    )  # fmt: skip
    assert cli.datamodule.hparams.batch_size == 4 and cli.datamodule.hparams.repeats == 2
    assert cli.datamodule.hparams.split_file is None and cli.datamodule.hparams.root == "sample"
