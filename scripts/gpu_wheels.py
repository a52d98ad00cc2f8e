#!/usr/bin/env python
"""Download the wheels that the GPU machine of docs/gpu.md lacks to run polypnet reproduce.

    python scripts/gpu_wheels.py --dest .gpu/wheels

Starts from setup.cfg's ``install_requires``, walks the ``Requires-Dist`` of each downloaded
wheel (markers evaluated for CPython 3.12 on x86-64 Linux, extras only where a requirement asks
for them), leaves out what the machine already has (:data:`GPU_HAS`) and what the run never
imports (:data:`NOT_CARRIED`), pins each package to the version installed in this Python where
that satisfies the requirement, and fetches it with ``pip download --no-deps
--only-binary=:all:`` for cp312 manylinux. Wheels of other packages or
versions in DEST are deleted (two versions of one package would stop the install there).
Writes DEST/wheels.txt (name, version, file, bytes). Needs ``packaging`` (any venv has it).
"""

from __future__ import annotations

import argparse
import configparser
import importlib.metadata
import shlex
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Python packages of the GPU machines' image ('cuda'), as its published package list gave them
#: on 2026-11-17 (Python 3.12.3, torch 2.11.0, torchvision 0.26.0, lightning 2.6.6,
#: torchmetrics 1.9.0, numpy 2.5.2, scipy, opencv-python-headless, timm, huggingface-hub, ...).
GPU_HAS = frozenset(
    canonicalize_name(n)
    for n in """
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings
cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils
execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py
hf-xet httpcore httpx huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax
jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning
lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib
mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind
narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti
nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand
nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink
nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax
opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip
pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock
pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu
safetensors scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece
sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels sympy
tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm
transformers treescope triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig
werkzeug wheel wrapt xarray xxhash yarl zipp
""".split()
)
#: Requirements the GPU run never imports, left out with their own requirements: OpenVINO is the
#: CPU inference backend (a 56 MiB wheel, alone near the device tool's 64 MiB); off the CPU, and
#: wherever it is missing, polypnet.inference.backends falls back to torch.
NOT_CARRIED = frozenset({"openvino"})
#: Carried although the machine has them: pydantic needs a recent typing-extensions and the
#: machine's version is not recorded; a newer one in front of it breaks nothing (45 kB).
ALWAYS = frozenset({"typing-extensions"})
#: Markers of the GPU machine (PEP 508 environment).
MARKERS = {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "platform_release": "",
    "platform_version": "",
    "implementation_version": "3.12.3",
}
PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
]
#: Tried when pip finds nothing with PLATFORMS (pip matches manylinux_2_N exactly); the machine
#: runs Ubuntu 24.04's Python 3.12.3, whose glibc is 2.39.
MORE_PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in range(24, 40) if n not in (27, 28)]


def roots(setup_cfg: Path) -> list[Requirement]:
    """The requirements of ``install_requires`` in setup.cfg."""
    cfg = configparser.ConfigParser()
    cfg.read(setup_cfg)
    lines = cfg["options"]["install_requires"].splitlines()
    return [Requirement(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip()]


def applies(req: Requirement, extras: set[str]) -> bool:
    """Whether ``req`` is needed on the GPU machine by a package installed with ``extras``."""
    if req.marker is None:
        return True
    return any(req.marker.evaluate({**MARKERS, "extra": e}) for e in (extras or {""}))


def local_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def wheel_in(dest: Path, name: str) -> Path | None:
    """The newest wheel of ``name`` in ``dest``."""
    found = [
        (parse_wheel_filename(p.name)[1], p) for p in dest.glob("*.whl") if parse_wheel_filename(p.name)[0] == name
    ]
    return max(found)[1] if found else None


def download(pip: list[str], dest: Path, spec: str) -> None:
    """``pip download`` one wheel for cp312 manylinux x86-64 (SystemExit when there is none)."""
    for platforms in (PLATFORMS, PLATFORMS + MORE_PLATFORMS):
        cmd = [
            *pip,
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.12",
            "--implementation",
            "cp",
            *[a for p in platforms for a in ("--platform", p)],
            "-q",
            "-d",
            str(dest),
            spec,
        ]
        if subprocess.run(cmd).returncode == 0:
            return
    raise SystemExit(f"error: no cp312 manylinux x86-64 wheel of {spec}")


def requires(wheel: Path) -> list[Requirement]:
    """The Requires-Dist entries of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        meta = Parser().parsestr(z.read(name).decode())
    return [Requirement(r) for r in meta.get_all("Requires-Dist") or []]


def walk(pip: list[str], dest: Path, start: list[Requirement]) -> dict[str, Path]:
    """Download the closure of ``start`` minus :data:`GPU_HAS` and :data:`NOT_CARRIED`; ``{name: wheel}``."""
    wheels: dict[str, Path] = {}
    extras_done: dict[str, set[str]] = {}
    queue = [(r, set()) for r in start]
    while queue:
        req, parent_extras = queue.pop(0)
        name = canonicalize_name(req.name)
        if not applies(req, parent_extras) or name in NOT_CARRIED or (name in GPU_HAS and name not in ALWAYS):
            continue
        if name in extras_done and set(req.extras) <= extras_done[name]:
            continue
        if name not in wheels:
            pinned = local_version(name)
            ok = pinned is not None and req.specifier.contains(Version(pinned), prereleases=True)
            spec = f"{name}=={pinned}" if ok else f"{name}{req.specifier}"
            download(pip, dest, spec)
            wheel = wheel_in(dest, name)
            if wheel is None:
                raise SystemExit(f"error: pip downloaded {spec} but no wheel of {name} is in {dest}")
            wheels[name] = wheel
        extras_done[name] = extras_done.get(name, set()) | set(req.extras)
        queue += [(r, set(req.extras)) for r in requires(wheels[name])]
    return wheels


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dest", type=Path, default=REPO_ROOT / ".gpu" / "wheels")
    p.add_argument("--pip", default="python3 -m pip", help="the pip command that downloads")
    p.add_argument("--setup-cfg", type=Path, default=REPO_ROOT / "setup.cfg")
    args = p.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    wheels = walk(shlex.split(args.pip), args.dest, roots(args.setup_cfg))
    keep = set(wheels.values())
    for stale in sorted(set(args.dest.glob("*.whl")) - keep):
        print(f"removing {stale.name} (not needed, or another version)")
        stale.unlink()
    lines = []
    for name, wheel in sorted(wheels.items()):
        version = parse_wheel_filename(wheel.name)[1]
        lines.append(f"{name}\t{version}\t{wheel.name}\t{wheel.stat().st_size}")
        print(f"{name:32s} {str(version):12s} {wheel.stat().st_size / 2**20:6.2f} MiB  {wheel.name}")
    (args.dest / "wheels.txt").write_text("\n".join(lines) + "\n")
    total = sum(w.stat().st_size for w in keep)
    print(f"{len(keep)} wheels, {total / 2**20:.2f} MiB in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
