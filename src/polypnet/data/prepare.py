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

import hashlib
import http.client
import shutil
import urllib.error
import urllib.request
import zipfile
from collections import Counter
from contextlib import nullcontext
from pathlib import Path, PurePosixPath

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
from .shipped import KVASIR

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


def download(url: str, path: Path, quiet: bool = False, console: Console | None = None, timeout: float = 60) -> Path:
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
        raise DownloadError(f"{url}: incomplete download ({got} of {total} bytes, kept in {part}); run again to resume")
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
                rel = PurePosixPath(member.filename[len(prefix) :])
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


def verify(root: Path, manifest: dict[str, str], quiet: bool = False, console: Console | None = None) -> list[Problem]:
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
