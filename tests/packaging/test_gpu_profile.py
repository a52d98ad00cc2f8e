"""scripts/gpu_profile.py: a training step timed in variants, and its slowest operations (run here on a CPU)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ..conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "gpu_profile.py"


def _script() -> ModuleType:
    """scripts/gpu_profile.py imported as a module."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        return importlib.import_module("gpu_profile")
    finally:
        sys.path.pop(0)


def test_variants_timed_and_kernels_listed(tmp_path: Path) -> None:
    out = tmp_path / "profile.json"
    args = ["--device", "cpu", "--size", "32", "--batch", "2", "--warmup", "1", "--steps", "1"]
    args += ["--variants", "fp32,no_metrics", "--profile-steps", "1", "--top", "3", "--out", str(out)]
    subprocess.run([sys.executable, str(SCRIPT), *args], check=True, capture_output=True, timeout=300)
    result = json.loads(out.read_text())
    assert [v["variant"] for v in result["variants"]] == ["fp32", "no_metrics"]
    assert all(v["ms_per_step"] > 0 and "error" not in v for v in result["variants"])
    assert result["kernels_of"] == "fp32" and len(result["kernels"]) == 3
    assert result["kernels"][0]["ms_per_step"] >= result["kernels"][-1]["ms_per_step"] > 0


def test_unknown_variant_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    # In this process: the check comes before any work, and a fresh one would spend its time importing.
    with pytest.raises(SystemExit) as done:
        _script().main(["--device", "cpu", "--variants", "fp33"])
    assert done.value.code == 2 and "unknown variants fp33" in capsys.readouterr().err


def test_variant_choice_pays_back_its_warm_up() -> None:
    choose_variant = _script().choose_variant

    def row(name: str, ms: float, warmup: float = 20.0) -> dict:
        return {"variant": name, "ms_per_step": ms, "warmup_s": warmup}

    # 1000 steps a job: totals 120 s NCHW, 100 s channels-last (under 0.9 x 120).
    assert choose_variant([row("benchmark", 100.0), row("channels_last", 80.0)], job_steps=1000) == "channels_last"
    # Within 10 %: not worth a different layout.
    assert choose_variant([row("benchmark", 100.0), row("channels_last", 95.0)], job_steps=1000) == "benchmark"
    # A step twice as fast does not pay back a job's three 50 s compilations over 1000 steps
    # (190 s against 100 s) ...
    rows = [row("benchmark", 100.0), row("channels_last", 80.0), row("compile_channels_last", 40.0, warmup=50.0)]
    assert choose_variant(rows, job_steps=1000) == "channels_last"
    # ... but does over 5000 steps (350 s against 420 s).
    assert choose_variant(rows, job_steps=5000) == "compile_channels_last"
    # Failed or untimed variants and measurement-only ones (bf16 changes the protocol) are never chosen.
    rows = [row("benchmark", 100.0), {"variant": "channels_last", "error": "x"}, row("bf16", 10.0)]
    assert choose_variant(rows, job_steps=1000) == "benchmark"
    assert choose_variant([], job_steps=1000) == "benchmark"
