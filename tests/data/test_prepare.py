"""prepare-data against a local HTTP server on 127.0.0.1 (with Range support) and local zips."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from polypnet.cli.data import prepare_main as main
from polypnet.data import find_pairs
from polypnet.data.prepare import verify
from polypnet.data.shipped import kvasir_official, read_manifest, sha256_manifest

from .synth import disc_mask, random_image, write

STEMS = list(kvasir_official()["train"][:3])


class Server(ThreadingHTTPServer):
    payload = b""
    ignore_range = False
    cut_after: int | None = None
    ranges: list[str | None]


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path != "/kvasir-seg.zip":
            self.send_error(404)
            return
        data, start = self.server.payload, 0
        requested = self.headers.get("Range")
        self.server.ranges.append(requested)
        if requested and not self.server.ignore_range:
            start = int(requested.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: self.server.cut_after] if self.server.cut_after else body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.ranges = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def kvasir_zip(tmp_path: Path) -> tuple[bytes, Path]:
    """A Kvasir-SEG-shaped zip (``Kvasir-SEG/images``, ``masks``, ``kavsir_bboxes.json``) and
    the sha256 manifest of its files."""
    files: dict[str, bytes] = {}
    src = tmp_path / "src"
    for k, stem in enumerate(STEMS):
        image = write(src / f"{stem}.jpg", random_image(120, 160, seed=k))
        mask = write(src / f"m{stem}.jpg", np.repeat(disc_mask(120, 160, seed=k)[..., None], 3, axis=2))
        files[f"images/{stem}.jpg"] = image.read_bytes()
        files[f"masks/{stem}.jpg"] = mask.read_bytes()
    files["kavsir_bboxes.json"] = b"{}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(f"Kvasir-SEG/{name}", data)
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in files.items()))
    return buffer.getvalue(), manifest


def run(server: Server, dest: Path, manifest: Path, *extra: str) -> int:
    url = f"http://127.0.0.1:{server.server_address[1]}/kvasir-seg.zip"
    return main(["kvasir-seg", "--url", url, "--dest", str(dest), "--manifest", str(manifest), "--quiet", *extra])


def test_download_extract_verify(server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server.payload, manifest = kvasir_zip(tmp_path)
    assert run(server, tmp_path / "data", manifest) == 0
    assert "verified: all 7 files match" in capsys.readouterr().out
    found = find_pairs(tmp_path / "data" / "kvasir-seg")
    assert (found.layout, len(found)) == ("kvasir-seg", 3)
    assert not (tmp_path / "data" / ".downloads" / "kvasir-seg.zip").exists()  # archive removed
    assert server.ranges == [None]


def test_resume_partial_download_with_range(server: Server, tmp_path: Path) -> None:
    server.payload, manifest = kvasir_zip(tmp_path)
    part = tmp_path / "data" / ".downloads" / "kvasir-seg.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(server.payload[:5000])
    assert run(server, tmp_path / "data", manifest, "--keep-archive") == 0
    assert server.ranges == ["bytes=5000-"]
    assert (tmp_path / "data" / ".downloads" / "kvasir-seg.zip").read_bytes() == server.payload


def test_interrupted_download_resumes_on_the_next_run(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.payload, manifest = kvasir_zip(tmp_path)
    server.cut_after = 3000
    assert run(server, tmp_path / "data", manifest) == 1
    assert "run again to resume" in capsys.readouterr().out
    assert (tmp_path / "data" / ".downloads" / "kvasir-seg.zip.part").stat().st_size == 3000
    server.cut_after = None
    assert run(server, tmp_path / "data", manifest) == 0
    assert server.ranges == [None, "bytes=3000-"]


def test_server_ignoring_range_restarts_the_file(server: Server, tmp_path: Path) -> None:
    server.payload, manifest = kvasir_zip(tmp_path)
    server.ignore_range = True
    part = tmp_path / "data" / ".downloads" / "kvasir-seg.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes of something else")
    assert run(server, tmp_path / "data", manifest) == 0


def test_missing_and_altered_files_are_named(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.payload, manifest = kvasir_zip(tmp_path)
    lines = manifest.read_text().splitlines()
    lines[0] = "0" * 64 + lines[0][64:]  # images/<first stem>.jpg: another hash
    lines.append("1" * 64 + "  images/not-in-the-zip.jpg")
    manifest.write_text("\n".join(lines) + "\n")
    assert run(server, tmp_path / "data", manifest) == 1
    out = capsys.readouterr().out
    assert "1 missing, 1 altered of 8 files" in out
    assert f"{tmp_path / 'data' / 'kvasir-seg' / 'images' / STEMS[0]}.jpg: altered" in out
    assert "images/not-in-the-zip.jpg: missing" in out


def test_existing_folder_is_verified_not_overwritten(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.payload, manifest = kvasir_zip(tmp_path)
    assert run(server, tmp_path / "data", manifest) == 0
    (tmp_path / "data" / "kvasir-seg" / "kavsir_bboxes.json").write_text("changed")
    assert run(server, tmp_path / "data", manifest) == 1
    assert "already exists" in capsys.readouterr().out
    assert run(server, tmp_path / "data", manifest, "--force") == 0


def test_from_archive_takes_the_official_tifs_of_a_kaggle_style_zip(tmp_path: Path) -> None:
    files = {}
    for frame in ("1", "2"):
        image = write(tmp_path / "s" / f"{frame}.tif", random_image(288, 384), tiff_rgb_minisblack=True)
        mask = write(tmp_path / "s" / f"m{frame}.tif", disc_mask(288, 384))
        files[f"Original/{frame}.tif"], files[f"Ground Truth/{frame}.tif"] = image.read_bytes(), mask.read_bytes()
    archive = tmp_path / "CVC-ClinicDB.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"CVC-ClinicDB/TIF/{name}", data)
            zf.writestr(f"CVC-ClinicDB/PNG/{name.replace('.tif', '.png')}", b"png copy")
        zf.writestr("__MACOSX/CVC-ClinicDB/._junk", b"")
    manifest = tmp_path / "m.txt"
    manifest.write_text("".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in files.items()))
    args = ["--from-archive", str(archive), "--dest", str(tmp_path / "d"), "--manifest", str(manifest)]
    assert main(["cvc-clinicdb", *args, "--quiet"]) == 0
    found = find_pairs(tmp_path / "d" / "cvc-clinicdb")
    assert (found.layout, found.ids) == ("cvc-clinicdb-tif", ["1", "2"])
    assert not (tmp_path / "d" / "cvc-clinicdb" / "PNG").exists()


def test_archive_members_outside_the_target_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("images/a.jpg", b"a")
        zf.writestr("../evil.txt", b"x")
    manifest = tmp_path / "m.txt"
    manifest.write_text(f"{hashlib.sha256(b'a').hexdigest()}  images/a.jpg\n")
    args = ["--from-archive", str(archive), "--dest", str(tmp_path / "d"), "--manifest", str(manifest)]
    assert main(["kvasir-seg", *args, "--quiet"]) == 1
    assert "refusing archive member" in capsys.readouterr().out
    assert not (tmp_path / "evil.txt").exists()


def test_cvc_without_archive_says_how(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cvc-clinicdb", "--dest", str(tmp_path), "--quiet"]) == 2
    assert "--from-archive" in capsys.readouterr().out


def test_shipped_manifests_match_the_real_data(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kvasir = read_manifest(sha256_manifest("kvasir-seg"))
    assert len(kvasir) == 2001 and not any(name.startswith("splits/") for name in kvasir)
    assert verify(shared_data / "kvasir-seg", kvasir, quiet=True) == []
    # The official CVC TIFFs: import the 8 real pairs as a zip; the other 604 pairs are missing.
    archive = tmp_path / "cvc8.zip"
    sample = shared_data / "cvc-clinicdb-tif-sample"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(sample.glob("*/*.tif")):
            zf.write(path, f"CVC-ClinicDB/{path.relative_to(sample)}")
    args = ["--from-archive", str(archive), "--dest", str(tmp_path / "d"), "--quiet"]
    assert main(["cvc-clinicdb", *args]) == 1
    out = capsys.readouterr().out
    assert "1208 missing, 0 altered of 1224 files" in out
    assert "Original/1.tif" not in out and "Ground Truth/611.tif: missing" in out
