"""``prepare-data``: download (or import) a dataset archive, extract it, verify every file.

    prepare-data kvasir-seg [--dest DIR]                # download from the official address
    prepare-data kvasir-seg --from-archive kvasir-seg.zip
    prepare-data cvc-clinicdb --from-archive CVC-ClinicDB.zip   # no stable public link
    prepare-data kvasir-seg --verify-only               # re-check an existing folder

The dataset lands in ``DEST/<name>/`` (DEST: ``--dest``, else ``$POLYPNET_DATA_DIR``, else
``./data``), in the layout of the official release: Kvasir-SEG ``images/``, ``masks/``,
``kavsir_bboxes.json``; CVC-ClinicDB ``Original/``, ``Ground Truth/`` (the official TIFFs, also
taken from archives that hold a PNG copy beside them). Every file listed in the dataset's sha256
manifest (shipped in the package) is checked; missing and altered files are named and the
exit status is 1. A download goes to ``DEST/.downloads/<name>.zip.part`` and resumes with an
HTTP Range request when run again after an interruption.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from collections import Counter
from contextlib import nullcontext
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from .errors import DataError, Problem
from .layouts import DATA_DIR_ENV
from .shipped import CVC, KVASIR, read_manifest, sha256_manifest

#: Official download addresses; CVC-ClinicDB has none that is stable (import its archive).
URLS = {KVASIR: "https://datasets.simula.no/downloads/kvasir-seg.zip"}
CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download that failed or stopped early (the partial file is kept for a resume)."""


def _progress(quiet: bool, console: Console) -> Progress | nullcontext:
    if quiet:
        return nullcontext()
    return Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=console, transient=False,
    )  # fmt: skip


def download(
    url: str, path: Path, quiet: bool = False, console: Console | None = None, timeout: float = 60
) -> Path:
    """Download ``url`` to ``path``, resuming ``path.part`` from where it stopped.

    A server that ignores the Range header (status 200) restarts the file from zero; a body
    shorter than announced raises :class:`DownloadError` and keeps the part for the next run.
    """
    console = console or Console(stderr=True)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "polypnet-prepare-data"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the part is already complete
            part.replace(path)
            return path
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(f"{url}: {getattr(err, 'reason', err)}") from None
    with response:
        length = response.headers.get("Content-Length")
        if response.status == 206:
            start = int(response.headers.get("Content-Range", f"bytes {have}-").split()[1].split("-")[0])
            if start != have:
                raise DownloadError(f"{url}: server resumed at byte {start}, not {have}")
            if not quiet:
                console.print(f"resuming {path.name} at {have / 2**20:.1f} MiB")
        else:
            if have and not quiet:
                console.print("the server ignored the range request: downloading from the start")
            have = 0
        total = have + int(length) if length is not None else None
        with part.open("ab" if have else "wb") as f, _progress(quiet, console) as bar:
            task = bar.add_task(f"download {path.name}", total=total, completed=have) if bar else None
            try:
                while chunk := response.read(CHUNK):
                    f.write(chunk)
                    if bar:
                        bar.advance(task, len(chunk))
            except (OSError, http.client.HTTPException) as err:
                raise DownloadError(
                    f"{url}: connection lost after {f.tell()} bytes ({err}); run again to resume"
                ) from None
            got = f.tell()
    if total is not None and got != total:
        raise DownloadError(
            f"{url}: incomplete download ({got} of {total} bytes, kept in {part}); run again to resume"
        )
    part.replace(path)
    return path


def _prefix(names: list[str], manifest: dict[str, str]) -> str:
    """The folder inside the archive that holds the manifest's paths (e.g. ``Kvasir-SEG/``)."""
    wanted = set(manifest)
    votes: Counter[str] = Counter()
    for name in names:
        parts = name.split("/")
        for depth in range(len(parts)):
            if "/".join(parts[depth:]) in wanted:
                votes["".join(f"{part}/" for part in parts[:depth])] += 1
    if not votes:
        raise DataError("the archive holds none of the dataset's files (wrong archive or dataset name?)")
    return votes.most_common(1)[0][0]


def extract(
    archive: Path, target: Path, manifest: dict[str, str], quiet: bool = False, console: Console | None = None
) -> int:
    """Extract the dataset's folder of ``archive`` into ``target``; returns the files written.

    Only members under the folder that holds the manifest's files are extracted, with that
    folder stripped; members that would land outside ``target`` are refused.
    """
    console = console or Console(stderr=True)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        message = f"not a readable zip archive ({err}); delete it and download again"
        raise DataError(Problem(archive, message)) from None
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir() and "__MACOSX" not in m.filename]
        prefix = _prefix([m.filename for m in members], manifest)
        chosen = [m for m in members if m.filename.startswith(prefix)]
        written = 0
        with _progress(quiet, console) as bar:
            total = sum(m.file_size for m in chosen)
            task = bar.add_task(f"extract {archive.name}", total=total) if bar else None
            for member in chosen:
                rel = PurePosixPath(member.filename[len(prefix):])
                if rel.is_absolute() or ".." in rel.parts:
                    message = f"refusing archive member outside the target: {member.filename}"
                    raise DataError(Problem(archive, message))
                out = target.joinpath(*rel.parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with zf.open(member) as src, out.open("wb") as dst:
                        shutil.copyfileobj(src, dst, CHUNK)
                except (zipfile.BadZipFile, OSError, EOFError) as err:
                    message = f"corrupt archive member {member.filename} ({err})"
                    raise DataError(Problem(archive, message)) from None
                written += 1
                if bar:
                    bar.advance(task, member.file_size)
    return written


def verify(
    root: Path, manifest: dict[str, str], quiet: bool = False, console: Console | None = None
) -> list[Problem]:
    """Every manifest file under ``root`` hashed; a problem for each missing or altered file."""
    console = console or Console(stderr=True)
    problems = []
    present = {name: root / name for name in manifest if (root / name).is_file()}
    with _progress(quiet, console) as bar:
        total = sum(p.stat().st_size for p in present.values())
        task = bar.add_task("verify sha256", total=total) if bar else None
        for name, expected in manifest.items():
            path = root / name
            if name not in present:
                problems.append(Problem(path, "missing"))
                continue
            digest = hashlib.sha256()
            with path.open("rb") as f:
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
                    if bar:
                        bar.advance(task, len(chunk))
            if digest.hexdigest() != expected:
                got = digest.hexdigest()
                problems.append(Problem(path, f"altered (sha256 {got[:12]}..., expected {expected[:12]}...)"))
    return problems


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="prepare-data", description=__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=[KVASIR, CVC])
    parser.add_argument("--dest", type=Path, help=f"parent folder (default: ${DATA_DIR_ENV}, else ./data)")
    parser.add_argument(
        "--from-archive", type=Path, metavar="ZIP", help="import this zip instead of downloading"
    )
    parser.add_argument("--url", help="download address (default: the official one)")
    parser.add_argument(
        "--manifest", type=Path, help="sha256 manifest to verify against (default: the shipped one)"
    )
    parser.add_argument("--verify-only", action="store_true", help="only verify DEST/<dataset>")
    parser.add_argument("--force", action="store_true", help="replace an existing DEST/<dataset> folder")
    parser.add_argument(
        "--keep-archive", action="store_true", help="keep the downloaded zip after extraction"
    )
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
                    return _report(verify(target, manifest, args.quiet, console), len(manifest), out)
                shutil.rmtree(target)
            archive = args.from_archive
            downloaded = None
            if archive is None:
                url = args.url or URLS.get(args.dataset)
                if url is None:
                    out(f"{args.dataset} has no stable public download: pass its zip with --from-archive")
                    return 2
                zip_path = dest / ".downloads" / f"{args.dataset}.zip"
                downloaded = archive = download(url, zip_path, args.quiet, console)
            elif not archive.is_file():
                out(f"{archive}: archive not found")
                return 2
            n = extract(archive, target, manifest, args.quiet, console)
            out(f"extracted {n} files from {archive} to {target}")
            if downloaded is not None and not args.keep_archive:
                downloaded.unlink()
        elif not target.is_dir():
            out(f"{target}: folder not found")
            return 2
        return _report(verify(target, manifest, args.quiet, console), len(manifest), out)
    except DownloadError as err:
        out(f"download failed: {err}")
        return 1
    except DataError as err:
        out(str(err))
        return 1


if __name__ == "__main__":
    sys.exit(main())
