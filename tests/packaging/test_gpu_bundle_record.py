"""scripts/gpu_bundle_record.py (the last step of make gpu-bundle) and the docs/gpu.md section made from its record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from polypnet.experiments.gpu_bundle_report import FORMAT, RECORD, gpu_bundle_markdown

from ..conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "gpu_bundle_record.py"


def _pack(gpu: Path, name: str, pairs: int, images: int, masks: int, budget: float = 35.2) -> None:
    folder = gpu / "data" / name
    folder.mkdir(parents=True)
    meta = {
        "name": name,
        "size": 256,
        "counts": {"pairs": pairs},
        "encoding": {"image": {"quality": 92, "subsampling": "4:4:4"}, "mask": {"bits": 1}},
        "bytes": {"images": images, "masks": masks, "total": images + masks},
        "psnr_db": {"mean": 43.0, "min": 41.5, "min_id": "x"},
        "budget": {"mib": budget},
    }
    (folder / "pack.json").write_text(json.dumps(meta))
    (folder / "blob").write_bytes(b"\0" * (images + masks))


def test_record_and_section(tmp_path: Path) -> None:
    gpu = tmp_path / ".gpu"
    mib = 1024 * 1024
    _pack(gpu, "cvc-clinicdb", 612, 2 * mib, mib // 2)
    _pack(gpu, "kvasir-seg", 1000, 3 * mib, mib // 2)
    (gpu / "wheels").mkdir()
    (gpu / "wheels" / "wheels.txt").write_text(
        "albumentations\t2.0.8\talb.whl\t1048576\npydantic\t2.14.4\tp.whl\t524288\n"
    )
    out = tmp_path / RECORD
    command = [sys.executable, str(SCRIPT), "--gpu", str(gpu), "--checkout-bytes", str(10 * mib), "--limit-mib", "64"]
    result = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    record = json.loads(out.read_text())
    assert record["format"] == FORMAT and record["packs_budget_mib"] == 35.2
    assert [p["name"] for p in record["packs"]] == ["cvc-clinicdb", "kvasir-seg"]
    assert str(tmp_path) not in out.read_text()  # no path of the machine that built it
    text = gpu_bundle_markdown(tmp_path, Path("docs"))
    assert (
        "| CVC-ClinicDB pack | 612 pairs at 256 px, JPEG q92 4:4:4 + 1-bit PNG | 2.0 MiB images + 0.5 MiB masks |"
        in text
    )
    assert "| wheels | 2 | 1.5 MiB |" in text
    assert "the checkout was 10.0 MiB" in text and "albumentations 2.0.8, pydantic 2.14.4" in text
    (tmp_path / RECORD).write_text(json.dumps({**record, "format": "other/1"}))
    with pytest.raises(ValueError, match="expected"):
        gpu_bundle_markdown(tmp_path, Path("docs"))
