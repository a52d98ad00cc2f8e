"""Peak resident memory of ``polypnet predict`` on hostile input mixes, each in a fresh process.

    python -m tests.security.peak_memory --out results/security/predict_peak_memory.json

Mixes (all synthetic black PNGs, written without holding their pixels): a 20000 x 20000
decompression bomb beside a 7000 x 7000 image and two small ones; sixteen 6000 x 6000 images
(8 to a batch before batching by pixels). ``predict`` runs at its defaults: untrained IAM-UNet,
256 px, batch 8, 50-megapixel limit, overlays on, CPU. The test suite asserts the bound on the
first mix (tests/security/test_untrusted.py); this writes the record.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from .files import huge_png

_CHILD = (
    "import resource, sys\n"
    "from polypnet.cli.main import main\n"
    "rc = main(['predict', *sys.argv[1:]])\n"
    "print('PEAK_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def peak_predict(args: list[str], cwd: Path, timeout: int = 600) -> tuple[int, float, str]:
    """Exit code, peak resident memory (MiB, ``getrusage`` of the child itself) and stderr of
    ``polypnet predict ARGS`` run in a fresh Python process."""
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    peak = [line for line in proc.stderr.splitlines() if line.startswith("PEAK_KIB")]
    if not peak:
        raise RuntimeError(f"predict did not report its peak memory: {proc.stderr[-3000:]}")
    return proc.returncode, int(peak[0].split()[1]) / 1024, proc.stderr


def bomb_mix(folder: Path) -> Path:
    """A 400-megapixel bomb, a 49-megapixel image and two 0.3-megapixel ones."""
    folder.mkdir(parents=True, exist_ok=True)
    huge_png(folder / "bomb.png", 20000, 20000)
    huge_png(folder / "big.png", 7000, 7000)
    for name in ("small1.png", "small2.png"):
        huge_png(folder / name, 640, 480)
    return folder


def photos_mix(folder: Path, count: int = 16) -> Path:
    """``count`` 36-megapixel images."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        huge_png(folder / f"photo{i:02d}.png", 6000, 6000)
    return folder


def main(argv: list[str] | None = None) -> int:
    """Measure both mixes and write the record; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="record JSON to write")
    args = parser.parse_args(argv)
    cases = []
    with tempfile.TemporaryDirectory(prefix="polypnet-peak-") as tmp:
        root = Path(tmp)
        for name, make in (("bomb_mix", bomb_mix), ("sixteen_36mp", photos_mix)):
            inputs = make(root / name)
            flags = [
                str(inputs),
                "--model",
                "iam_unet",
                "--out",
                str(root / f"{name}-out"),
                "--no-progress",
                "--device",
                "cpu",
            ]
            code, peak_mib, _ = peak_predict(flags, root)
            summary = json.loads((root / f"{name}-out" / "summary.json").read_text())
            cases.append(
                {
                    "case": name,
                    "inputs": sorted(p.name for p in inputs.iterdir()),
                    "flags": flags[1:3] + flags[5:],
                    "exit_code": code,
                    "images_written": summary["images"],
                    "skipped": [Path(s["path"]).name for s in summary["skipped"]],
                    "peak_rss_mib": round(peak_mib, 1),
                }
            )
            print(f"{name}: exit {code}, peak {peak_mib:.0f} MiB", file=sys.stderr)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    record = {
        "command": "python -m tests.security.peak_memory --out " + str(args.out),
        "git_commit": commit or None,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"recorded {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
