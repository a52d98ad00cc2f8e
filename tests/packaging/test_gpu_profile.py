"""scripts/gpu_profile.py: a training step timed in variants, and its slowest operations (run here on a CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "gpu_profile.py"


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


def test_unknown_variant_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--variants", "fp33"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "unknown variants fp33" in done.stderr


def test_layout_choice_needs_a_clear_win() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from gpu_profile import choose_layout
    finally:
        sys.path.pop(0)
    rows = [{"variant": "benchmark", "ms_per_step": 100.0}, {"variant": "channels_last", "ms_per_step": 80.0}]
    assert choose_layout(rows) == "channels_last"
    rows[1]["ms_per_step"] = 95.0  # within 10 %: not worth a different layout
    assert choose_layout(rows) == "nchw"
    assert (
        choose_layout([{"variant": "benchmark", "ms_per_step": 100.0}, {"variant": "channels_last", "error": "x"}])
        == "nchw"
    )
