"""``PolypDataModule``: the whole data side of training, configurable from LightningCLI YAML."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch.utils.data import DataLoader, Sampler

from .cache import CACHE_DIR_ENV, DecodeCache
from .combined import find_combined
from .dataset import PolypDataset
from .errors import DataError
from .layouts import PairSet, find_pairs
from .sampling import EpochSeededSampler
from .splits import SPLIT_KINDS, make_split, save_split
from .transforms import AUGMENTS, build_transforms


class PolypDataModule(L.LightningDataModule):
    """Pairs under ``root``, split, augmented and batched.

    Args:
        root: a folder in any recognised layout, ``"sample"`` (the bundled 16 Kvasir-SEG pairs),
            or ``"kvasir-seg"`` / ``"cvc-clinicdb"`` (resolved as ``$POLYPNET_DATA_DIR/<name>``);
            or a list of such roots of distinct datasets, trained on together
            (:mod:`polypnet.data.combined`: ids become ``<dataset>__<stem>``).
        split: ``random`` (80/10/10 by default), ``official`` (Kvasir-SEG), ``sequence``
            (CVC-ClinicDB, by video sequence), ``pranet`` (PraNet's test lists; Kvasir-SEG,
            CVC-ClinicDB or both) or ``file`` (``split_file``).
        seed: seed of the split (augmentation follows ``seed_everything``).
        image_size: images and masks are resized to ``image_size`` x ``image_size``.
        batch_size: batch size of every loader; the train loader drops the last partial batch
            (static shapes for XLA).
        num_workers: DataLoader worker processes (persistent when > 0).
        repeats: each training image is seen ``repeats`` times per epoch (paper: 4).
        cache: decode and resize every file once at setup (also saved under
            ``$POLYPNET_CACHE_DIR`` when that is set).
        split_file: a split JSON saved earlier (with ``split="file"``).
        val_fraction, test_fraction: sizes of val and test for ``random``/``sequence`` (val only
            for ``official`` and ``pranet``).
        run_dir: where ``split.json`` is written; default: the Trainer's ``log_dir`` if any.
        augment: training augmentation, ``paper`` (flips, rotation) or ``strong`` (adds scale,
            colour and elastic; the ``improved`` recipe).

    Batches: ``{"image": (B, 3, S, S) float32 in [0, 1], "mask": (B, 1, S, S) float32 in
    {0, 1}, "name": list of ids, "orig_size": (B, 2) int64 (height, width)}``.
    """

    def __init__(
        self,
        root: str | list[str] = "sample",
        split: str = "random",
        seed: int = 42,
        image_size: int = 256,
        batch_size: int = 16,
        num_workers: int = 0,
        repeats: int = 1,
        cache: bool = True,
        split_file: str | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        run_dir: str | None = None,
        augment: str = "paper",
    ) -> None:
        super().__init__()
        if split not in SPLIT_KINDS:
            raise ValueError(f"split must be one of {', '.join(SPLIT_KINDS)}, got {split!r}")
        if augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}, got {augment!r}")
        if not isinstance(root, str) and not root:
            raise ValueError("root: an empty list of folders")
        if (split == "file") != (split_file is not None):
            raise ValueError("split='file' and split_file go together: pass both or neither")
        for name, value in (("image_size", image_size), ("batch_size", batch_size), ("repeats", repeats)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.save_hyperparameters()
        self.pairs: PairSet | None = None
        self.split: dict[str, Any] | None = None
        self.split_path: Path | None = None
        self.decode_cache: DecodeCache | None = None
        self.train_set: PolypDataset | None = None
        self.val_set: PolypDataset | None = None
        self.test_set: PolypDataset | None = None

    def _run_dir(self) -> str | None:
        if self.hparams.run_dir is not None:
            return self.hparams.run_dir
        trainer = self.trainer
        return trainer.log_dir if trainer is not None else None  # log_dir: call on every rank

    def setup(self, stage: str | None = None) -> None:
        """Find and validate the pairs, make and save the split, build the three datasets (once)."""
        if self.train_set is not None:
            return
        hp = self.hparams
        found = find_pairs(hp.root) if isinstance(hp.root, str) else find_combined(hp.root)
        rank_zero_info(f"polypnet.data: {found.describe()} at {found.root}")
        split = make_split(found, hp.split, hp.seed, hp.val_fraction, hp.test_fraction, split_file=hp.split_file)
        run_dir = self._run_dir()
        if run_dir is not None:
            path = Path(run_dir) / "split.json"
            trainer = self.trainer
            if trainer is None or trainer.is_global_zero:
                save_split(split, path)
            self.split_path = path
        counts = ", ".join(f"{side} {len(split[side])}" for side in ("train", "val", "test"))
        saved = f", saved to {self.split_path}" if self.split_path else ""
        rank_zero_info(f"polypnet.data: {split['kind']} split (seed {split.get('seed')}): {counts}{saved}")

        n_train = len(split["train"]) * hp.repeats
        if n_train < hp.batch_size:
            raise DataError(
                f"the train set has {len(split['train'])} samples x repeats {hp.repeats} = {n_train} "
                f"< batch_size {hp.batch_size}: with drop_last an epoch would hold no batch; "
                "lower batch_size or raise repeats"
            )
        used = split["train"] + split["val"] + split["test"]
        if hp.cache:
            cache_dir = os.environ.get(CACHE_DIR_ENV)
            self.decode_cache = DecodeCache.build(found.select(used), hp.image_size, cache_dir=cache_dir)
            mib = self.decode_cache.nbytes / 2**20
            rank_zero_info(f"polypnet.data: decode cache of {len(used)} pairs, {mib:.0f} MiB")
        self.pairs, self.split = found, split
        size, cache = hp.image_size, self.decode_cache
        augment = build_transforms(size, train=True, augment=hp.augment)
        self.train_set = PolypDataset(found.select(split["train"]), size, True, hp.repeats, cache, augment)
        self.val_set = PolypDataset(found.select(split["val"]), size, False, 1, cache)
        self.test_set = PolypDataset(found.select(split["test"]), size, False, 1, cache)

    def _loader(self, dataset: PolypDataset | None, sampler: Sampler | None = None) -> DataLoader:
        if dataset is None:
            raise RuntimeError("PolypDataModule: call setup() before asking for a dataloader")
        workers = self.hparams.num_workers
        return DataLoader(
            dataset,
            batch_size=self.hparams.batch_size,
            sampler=sampler,
            drop_last=isinstance(sampler, EpochSeededSampler),
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def _current_epoch(self) -> int:
        trainer = self.trainer
        return trainer.current_epoch if trainer is not None else 0

    def train_dataloader(self) -> DataLoader:
        """Shuffled, drop_last; order and augmentation of epoch e depend only on (seed, e), where
        the seed is torch's at this call (``seed_everything``'s): a resumed run replays epochs
        exactly."""
        if self.train_set is None:
            return self._loader(None)
        epoch = self._current_epoch if self.trainer is not None else None
        sampler = EpochSeededSampler(len(self.train_set), torch.initial_seed(), epoch)
        return self._loader(self.train_set, sampler)

    def _eval_sampler(self, dataset: PolypDataset | None) -> Sampler | None:
        """On several processes, each sample on exactly one of them (no padding, no drop_last).

        Lightning's own distributed sampler pads the split to a multiple of the world size, so
        a few samples would count twice and the metrics would differ from one process's; it
        leaves a ``DistributedSampler`` given here alone. Shards differ by at most one sample:
        the evaluation steps hold no collective, the metrics sync once at epoch end.
        """
        trainer = self.trainer
        kwargs = trainer.distributed_sampler_kwargs if trainer is not None else None
        if dataset is None or not kwargs or kwargs.get("num_replicas", 1) <= 1:
            return None
        replicas = kwargs["num_replicas"]
        if len(dataset) < replicas:
            rank_zero_warn(
                f"polypnet.data: {len(dataset)} evaluation samples for {replicas} processes: Lightning "
                "pads the split so that every process gets one, and the padded samples count twice"
            )
            return None
        return UnrepeatedDistributedSampler(dataset, num_replicas=replicas, rank=kwargs["rank"], shuffle=False)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self._eval_sampler(self.val_set))

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self._eval_sampler(self.test_set))

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self._eval_sampler(self.test_set))
