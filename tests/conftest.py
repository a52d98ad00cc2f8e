"""Shared fixtures and the location of the real data in ../shared (absent on some machines)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from polypnet.training.host_memory import keep_freed_memory

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _keep_freed_memory() -> None:
    """The allocator setting of the commands that run the network (training.host_memory), for the
    tests that run it in this process: without it each forward pass page-faults its activations in
    anew, several times slower. tests/training/test_host_memory.py measures both in subprocesses."""
    keep_freed_memory()


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


#: Test packages of tiny 64 px models, run on one torch thread: a second one only adds contention
#: (a training job may share the CPU).
ONE_THREAD_PACKAGES = ("cli", "security")


@pytest.fixture(autouse=True)
def _torch_backend(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[None]:
    """The CLI's ``--backend auto`` runs torch in tests (tests/inference/test_backends.py covers the
    others): converting each test's model to OpenVINO would cost seconds a test. The thread count,
    which :data:`ONE_THREAD_PACKAGES` change, is restored for the next test."""
    monkeypatch.setenv("POLYPNET_BACKEND", "torch")
    threads = torch.get_num_threads()
    if request.path.resolve().relative_to(REPO_ROOT / "tests").parts[0] in ONE_THREAD_PACKAGES:
        torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real datasets; skips the test with the reason when they are not beside the repo."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (../shared/data beside the repository)")
    return SHARED_DATA
