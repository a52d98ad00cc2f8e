"""scripts/gpu_wheels.py leaves out what the GPU machine has and what its run never imports."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from packaging.requirements import Requirement

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_wheels.py"


@pytest.fixture(scope="module")
def gpu_wheels():
    spec = importlib.util.spec_from_file_location("gpu_wheels", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# `false` as the pip command: any download attempt exits 1, which walk() turns into SystemExit.
@pytest.mark.parametrize("requirement", ["openvino>=2025.3", "torch>=2.9", "numpy>=1.26"])
def test_left_out_requirements_download_nothing(gpu_wheels, tmp_path: Path, requirement: str) -> None:
    assert gpu_wheels.walk(["false"], tmp_path, [Requirement(requirement)]) == {}


def test_a_missing_requirement_is_downloaded(gpu_wheels, tmp_path: Path) -> None:
    # guards the test above: with the same fake pip, a carried package does reach the download
    with pytest.raises(SystemExit, match="no cp312 manylinux"):
        gpu_wheels.walk(["false"], tmp_path, [Requirement("albumentations>=2.0")])


def test_the_package_still_requires_what_is_left_out(gpu_wheels) -> None:
    # NOT_CARRIED names real requirements: a stale entry would hide nothing and mean nothing
    names = {r.name.lower() for r in gpu_wheels.roots(SCRIPT.parents[1] / "setup.cfg")}
    assert gpu_wheels.NOT_CARRIED <= names
