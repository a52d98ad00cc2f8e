"""Synthetic polyp-like data for fast tests: bright discs on a textured background."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset


class DiscDataset(Dataset):
    """``n`` images (3, size, size) in [0, 1] with one bright disc each, and its {0, 1} mask."""

    def __init__(self, n: int = 8, size: int = 32, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        self.items = []
        for i in range(n):
            cy, cx = torch.randint(size // 4, 3 * size // 4, (2,), generator=g).tolist()
            r = int(torch.randint(size // 8, size // 4, (1,), generator=g))
            mask = (((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r).float()[None]
            image = 0.3 * torch.rand(3, size, size, generator=g) + 0.6 * mask
            self.items.append({"image": image, "mask": mask, "name": f"disc{i:03d}"})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


class DiscDataModule(L.LightningDataModule):
    """Train/val/test loaders over ``DiscDataset``; training drops the last partial batch."""

    def __init__(self, n: int = 8, size: int = 32, batch_size: int = 4) -> None:
        super().__init__()
        self.n, self.size, self.batch_size = n, size, batch_size

    def setup(self, stage: str | None = None) -> None:
        self.train = DiscDataset(self.n, self.size, seed=0)
        self.val = DiscDataset(max(2, self.n // 4), self.size, seed=1)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=self.batch_size)
