"""Fixtures of the CLI tests: one torch thread, small trained-looking weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from polypnet.data import PolypDataset
from polypnet.models import create_model


@pytest.fixture(scope="package")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """State dict of a random IAM-UNet with non-trivial BatchNorm statistics and a head bias that
    splits its logits on the sample near 50/50, so masks are neither empty nor full."""
    torch.manual_seed(0)
    model = create_model("iam_unet").eval()
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.8, 1.2)
    dataset = PolypDataset.from_root("sample", image_size=64, cache=False)
    with torch.no_grad():
        images = torch.stack([dataset[i]["image"] for i in range(len(dataset))])
        model.head.bias -= model(images).median()
    path = tmp_path_factory.mktemp("weights") / "state_dict.pt"
    torch.save(model.state_dict(), path)
    return path
