"""Shared fixtures and the location of the real data in ../shared (absent on some machines)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _torch_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI's ``--backend auto`` runs torch in tests (tests/inference/test_backends.py covers the
    others): converting each test's model to OpenVINO would cost seconds a test, and a non-torch
    Predictor leaves torch one thread, which is restored here for the next test."""
    monkeypatch.setenv("POLYPNET_BACKEND", "torch")
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real datasets; skips the test with the reason when they are not beside the repo."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (../shared/data beside the repository)")
    return SHARED_DATA
