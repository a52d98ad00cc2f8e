"""training.host_memory: freed blocks stay in the heap, so a repeated large allocation stops faulting."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

from polypnet.training import host_memory

glibc_only = pytest.mark.skipif(not host_memory.on_glibc(), reason="mallopt is glibc's")

# Ten 128 MiB tensors written and freed, after ten more that let the heap settle (an aligned
# allocation does not fit the block the last one freed until free blocks have merged): the minor
# page faults the ten cost.
PROBE = """
import resource, sys
import torch
from polypnet.training.host_memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
for _ in range(10):
    torch.ones(2**25)
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    torch.ones(2**25)
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


def _probe(mode: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k not in host_memory.USER_SETTINGS}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], env=env, capture_output=True, text=True, check=True)
    kept, faults = out.stdout.split()
    return kept, int(faults)


@glibc_only
def test_kept_memory_is_reused_without_page_faults() -> None:
    _, default_faults = _probe("default")
    kept, kept_faults = _probe("keep")
    assert kept == "True"
    # glibc maps each tensor anew by default: 32,768 faults a tensor in 4 KiB pages, fewer where
    # transparent huge pages are always on, but at least one.
    assert default_faults >= 10
    assert kept_faults < default_faults / 10


@pytest.mark.parametrize("name", host_memory.USER_SETTINGS)
def test_a_users_own_allocator_settings_are_left_alone(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "1")
    assert host_memory.applies() is False
    assert host_memory.keep_freed_memory() is False


# compare tta and compare input-size run the network through evaluate's main, which calls it.
@pytest.mark.parametrize("command", ["fit", "evaluate", "predict", "demo", "compare_postprocess"])
def test_commands_that_run_the_network_keep_freed_memory(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = importlib.import_module(f"polypnet.cli.{command}")
    calls: list[bool] = []
    monkeypatch.setattr(module, "keep_freed_memory", lambda: calls.append(True) or True)
    with pytest.raises(SystemExit):
        module.main(["--help"])
    assert calls == [True]
