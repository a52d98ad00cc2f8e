"""``polypnet data check | prepare | pack``: the dataset commands."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from ..data import pack, prepare
from ..data.check import report_lines, summarize
from ..data.errors import DataError, Problem
from ..data.layouts import DATA_DIR_ENV, resolve_root
from ..data.shipped import CVC, KVASIR, read_manifest, sha256_manifest

#: The ``format`` of ``polypnet data check --out``'s record.
CHECK_FORMAT = "polypnet-data-check/1"


def check_main(argv: Sequence[str] | None = None) -> int:
    """``polypnet data check``: exit 0 when the data is usable, 1 on any problem, 2 on a usage error."""
    parser = argparse.ArgumentParser(
        description="Check a polyp dataset folder: layout, counts, sizes, foreground, problems.",
    )
    parser.add_argument("root", help='dataset folder, "sample", or a dataset name under $POLYPNET_DATA_DIR')
    parser.add_argument("--headers-only", action="store_true", help="read image headers only (masks are still decoded)")
    parser.add_argument("--out", type=Path, metavar="JSON", help="also write the summary as a JSON record")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    summary, problems = summarize(args.root, decode_images=not args.headers_only)
    seconds = time.perf_counter() - start
    for line in report_lines(summary):
        print(line)
    if args.out is not None:
        summary.root = args.root  # as typed: the record should not carry this machine's absolute paths
        record = {
            "format": CHECK_FORMAT,
            "command": "polypnet data check " + " ".join(sys.argv[1:] if argv is None else argv),
            "seconds": round(seconds, 2),
            "cpus": os.cpu_count(),
            "summary": summary.to_dict(),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    return 1 if problems else 0


def _report(problems: list[Problem], n: int, out: Callable[[str], None]) -> int:
    missing = sum(p.message == "missing" for p in problems)
    altered = len(problems) - missing
    if not problems:
        out(f"verified: all {n} files match the sha256 manifest")
        return 0
    out(f"verification failed: {missing} missing, {altered} altered of {n} files")
    for problem in problems:
        out(f"  - {problem}")
    return 1


def prepare_main(argv: Sequence[str] | None = None) -> int:
    """``polypnet data prepare``: import or download a dataset and verify it against its sha256 list."""
    parser = argparse.ArgumentParser(description=prepare.__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=[KVASIR, CVC])
    parser.add_argument("--dest", type=Path, help=f"parent folder (default: ${DATA_DIR_ENV}, else ./data)")
    parser.add_argument("--from-archive", type=Path, metavar="ZIP", help="import this zip instead of downloading")
    parser.add_argument("--url", help="download address (default: the official one)")
    parser.add_argument("--manifest", type=Path, help="sha256 manifest to verify against (default: the shipped one)")
    parser.add_argument("--verify-only", action="store_true", help="only verify DEST/<dataset>")
    parser.add_argument("--force", action="store_true", help="replace an existing DEST/<dataset> folder")
    parser.add_argument("--keep-archive", action="store_true", help="keep the downloaded zip after extraction")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    out = print

    dest = args.dest or Path(os.environ.get(DATA_DIR_ENV) or "data")
    target = dest / args.dataset
    manifest_path = args.manifest or sha256_manifest(args.dataset)
    manifest = read_manifest(manifest_path)
    try:
        if not args.verify_only:
            if target.exists() and any(target.iterdir()):
                if not args.force:
                    out(f"{target} already exists: verifying it (--force replaces it)")
                    return _report(prepare.verify(target, manifest, args.quiet, console), len(manifest), out)
                shutil.rmtree(target)
            archive = args.from_archive
            downloaded = None
            if archive is None:
                url = args.url or prepare.URLS.get(args.dataset)
                if url is None:
                    out(f"{args.dataset} has no stable public download: pass its zip with --from-archive")
                    return 2
                zip_path = dest / ".downloads" / f"{args.dataset}.zip"
                downloaded = archive = prepare.download(url, zip_path, args.quiet, console)
            elif not archive.is_file():
                out(f"{archive}: archive not found")
                return 2
            n = prepare.extract(archive, target, manifest, args.quiet, console)
            out(f"extracted {n} files from {archive} to {target}")
            if downloaded is not None and not args.keep_archive:
                downloaded.unlink()
        elif not target.is_dir():
            out(f"{target}: folder not found")
            return 2
        return _report(prepare.verify(target, manifest, args.quiet, console), len(manifest), out)
    except prepare.DownloadError as err:
        out(f"download failed: {err}")
        return 1
    except DataError as err:
        out(str(err))
        return 1


def _quality(text: str) -> int | None:
    if text == "auto":
        return None
    value = int(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"JPEG quality must be 1..100 or auto, got {value}")
    return value


def pack_parser() -> argparse.ArgumentParser:
    """The command line of pack-data."""
    p = argparse.ArgumentParser(description=pack.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sources", nargs="+", help="dataset folders, 'sample', or names under --data-dir")
    p.add_argument(
        "--data-dir", type=Path, help="folder holding the datasets named in sources (default: $POLYPNET_DATA_DIR)"
    )
    p.add_argument("--out", type=Path, default=Path(".gpu") / "data", help="packs go to OUT/<dataset>/")
    p.add_argument("--size", type=int, default=pack.DEFAULT_SIZE, help="side of the square images")
    p.add_argument("--quality", type=_quality, default=None, help="JPEG quality 1..100, or auto (default)")
    p.add_argument(
        "--budget-mib",
        type=float,
        default=pack.DEFAULT_BUDGET_MIB,
        help="with --quality auto: all the packs of this call together at most this",
    )
    p.add_argument("--threads", type=int, default=None, help="decode/encode threads (default: up to 4)")
    return p


def pack_main(argv: list[str] | None = None) -> int:
    """Pack and print one line per dataset; returns the exit code."""
    args = pack_parser().parse_args(argv)
    if args.size < 1:
        print(f"error: --size must be >= 1, got {args.size}", file=sys.stderr)
        return 2
    try:
        sources = []
        for s in args.sources:
            named = args.data_dir is not None and s != "sample" and os.sep not in s and not Path(s).exists()
            sources.append(resolve_root(args.data_dir / s if named else s))
        metas = pack.pack(sources, args.out, args.size, args.quality, args.budget_mib, args.threads)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for meta in metas:
        image, b, p = meta["encoding"]["image"], meta["bytes"], meta["psnr_db"]
        name = meta["name"]
        print(
            f"{name}: {meta['counts']['pairs']} pairs at {meta['size']} px, JPEG q{image['quality']} "
            f"{image['subsampling']}: images {b['images'] / pack.MIB:.1f} MiB + masks {b['masks'] / pack.MIB:.1f} MiB, "
            f"PSNR mean {p['mean']:.2f} dB, min {p['min']:.2f} dB ({p['min_id']}) -> {args.out / name}"
        )
    total = sum(m["bytes"]["total"] for m in metas)
    print(f"total: {total / pack.MIB:.1f} MiB in {args.out}")
    return 0
