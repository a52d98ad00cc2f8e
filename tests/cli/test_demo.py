"""``polypnet demo``: the analysis behind the page, and the page itself in a real browser.

The browser test needs the ``[demo]`` extra (Gradio, Playwright), Debian's ``chromium`` at
/usr/bin/chromium (Playwright's own browser download is not used) and ../shared/data; it skips
with the reason when one is missing. ``POLYPNET_DEMO_SCREENSHOT=docs/demo.png`` makes it write
the README's screenshot there (a 256-colour PNG) instead of into the test's temporary folder.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from polypnet.cli.demo import build_parser, weights_text
from polypnet.data.readers import read_image, read_mask
from polypnet.inference import Predictor, load_model
from polypnet.inference.demo_page import MAX_VIDEO_FRAMES, DemoAnalyser, prune_requests, sample_images

from ..conftest import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT_LIMIT = 200 * 1024


@pytest.fixture
def analyser(weights: Path) -> DemoAnalyser:
    net, _ = load_model(model="iam_unet", weights=weights)
    return DemoAnalyser(net, image_size=64)


def test_sample_images_come_from_the_package() -> None:
    images = sample_images()
    assert images, "the package ships no sample images"
    assert all("site-packages" in str(p) or "src/polypnet" in str(p) for p in images)
    assert all(p.is_file() for p in images)


def test_image_masks_are_the_predictors(analyser: DemoAnalyser, tmp_path: Path) -> None:
    image = sample_images()[0]
    result = analyser.analyse([image], threshold=0.4, tta=True, work_dir=tmp_path)
    assert result.notes == []
    mask_file = tmp_path / f"{image.stem}_mask.png"
    assert str(mask_file) in result.downloads and (tmp_path / "predictions.csv").is_file()
    expected = Predictor(analyser.model, image_size=64, threshold=0.4, tta=True).predict(read_image(image))
    np.testing.assert_array_equal(read_mask(mask_file), expected.mask)
    assert result.image_rows[0]["area_fraction"] == expected.stats()["area_fraction"]
    assert [Path(f).name for f, _ in result.gallery] == [f"{image.stem}_overlay.jpg", mask_file.name]


def test_bad_files_become_messages(analyser: DemoAnalyser, tmp_path: Path) -> None:
    fake = tmp_path / "in" / "broken.jpg"
    fake.parent.mkdir()
    fake.write_bytes(b"\xff\xd8 not really a jpeg")
    text = tmp_path / "in" / "notes.txt"
    text.write_text("hello")
    good = sample_images()[0]
    result = analyser.analyse([fake, text, good], threshold=0.5, tta=False, work_dir=tmp_path / "out")
    assert len(result.notes) == 2
    assert result.notes[0].startswith("notes.txt: not an image or a video")
    assert result.notes[1].startswith("broken.jpg: ")
    assert [r["file"] for r in result.image_rows] == [good.name]  # the good file is still processed


def test_images_are_decoded_a_batch_at_a_time(
    analyser: DemoAnalyser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory stays at one batch of decoded uploads, not all of them (up to 32 at 40 MP each)."""
    from polypnet.inference import demo_page as page

    events: list[str] = []
    read = page._read_upload
    monkeypatch.setattr(page, "_read_upload", lambda file: events.append("read") or read(file))
    predict_batch = Predictor.predict_batch
    monkeypatch.setattr(
        Predictor, "predict_batch", lambda self, images: events.append("predict") or predict_batch(self, images)
    )
    analyser.batch_size = 2
    files = []
    for i in range(5):
        files.append(tmp_path / f"copy{i}.jpg")
        files[-1].write_bytes(sample_images()[0].read_bytes())
    result = analyser.analyse(files, threshold=0.5, tta=False, work_dir=tmp_path / "out")
    assert len(result.image_rows) == 5
    assert events == ["read", "read", "predict", "read", "read", "predict", "read", "predict"]


def test_threshold_outside_0_1_is_a_message(analyser: DemoAnalyser, tmp_path: Path) -> None:
    result = analyser.analyse(sample_images()[:1], threshold=1.0, tta=False, work_dir=tmp_path)
    assert result.notes and not result.image_rows


def _write_video(path: Path, frames: int, size: tuple[int, int] = (64, 48)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    frame = cv2.imread(str(sample_images()[0]))
    for i in range(frames):
        writer.write(cv2.resize(np.roll(frame, 7 * i, axis=1), size))
    writer.release()


def test_video_gives_a_playable_overlay_and_a_frame_table(analyser: DemoAnalyser, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    _write_video(clip, 6)
    result = analyser.analyse([clip], threshold=0.5, tta=False, work_dir=tmp_path / "out")
    assert result.notes == []
    assert [int(r["frame"]) for r in result.frame_rows] == list(range(6))
    assert result.video is not None and result.video.endswith(".webm")
    cap = cv2.VideoCapture(result.video)
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == 6
    assert any(d.endswith("clip_frames.csv") for d in result.downloads)


def test_long_video_is_refused_by_its_header(
    analyser: DemoAnalyser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import polypnet.inference.demo_page as page

    monkeypatch.setattr(page, "MAX_VIDEO_FRAMES", 4)
    clip = tmp_path / "long.mp4"
    _write_video(clip, 6)
    result = analyser.analyse([clip], threshold=0.5, tta=False, work_dir=tmp_path / "out")
    assert len(result.notes) == 1 and "over the page's limit of 4" in result.notes[0]
    assert result.video is None and not result.frame_rows
    assert MAX_VIDEO_FRAMES > 4


def test_old_request_folders_are_pruned(tmp_path: Path) -> None:
    old, new = tmp_path / "request-old", tmp_path / "request-new"
    for folder in (old, new):
        folder.mkdir()
        (folder / "x_mask.png").write_bytes(b"png")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    prune_requests(tmp_path, max_age_s=3600)
    assert not old.exists() and (new / "x_mask.png").is_file()


def test_parser_listens_on_loopback_by_default() -> None:
    args = build_parser().parse_args([])
    assert args.host == "127.0.0.1"
    assert build_parser().parse_args(["--pretrained", "kvasir-seg", "--port", "8080"]).port == 8080


@pytest.mark.parametrize("argv", [["--port", "0"], ["--max-upload-mb", "0"]])
def test_usage_errors_exit_2_before_anything_starts(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from polypnet.cli.demo import main

    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: --")


def test_weights_text_names_the_shipped_weights() -> None:
    text = weights_text({"model": "iam_unet", "source": "pretrained:kvasir-seg"}, 256, "cpu")
    assert "`kvasir-seg`" in text and "256x256" in text
    assert "untrained" in weights_text({"model": "iam_unet", "source": "untrained"}, 64, "cpu")


# --------------------------------------------------------------------------------------------
# The page in a real browser


def _browser_requirements(shared_data: Path) -> Path:
    for module in ("gradio", "playwright"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install 'polypnet[demo]')")
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    images = sorted((shared_data / "kvasir-seg" / "images").glob("*.jpg"))
    if not images:
        pytest.skip(f"no Kvasir-SEG images in {shared_data / 'kvasir-seg' / 'images'}")
    return images[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_demo(port: int, cwd: Path) -> subprocess.Popen:
    """Start ``polypnet demo`` (shipped weights, 2 MB upload limit) in the background."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "polypnet.cli.main",
            "demo",
            "--pretrained",
            "kvasir-seg",
            "--port",
            str(port),
            "--max-upload-mb",
            "2",
            "--device",
            "cpu",
        ],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Ctrl+C must reach the server even when pytest itself runs with SIGINT ignored (a job put in
        # the background by a non-interactive shell): an ignored signal is inherited through exec.
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_address(proc: subprocess.Popen) -> tuple[str, Path]:
    """The page's address and temporary folder, from the lines the demo prints when it is up."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    seen, deadline = [], time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if m := re.search(r"temporary files in (\S+)", line):
            temp = Path(m.group(1))
        if m := re.search(r"open (http://\S+) in a browser", line):
            return m.group(1), temp
    proc.kill()
    raise AssertionError("polypnet demo did not start:\n" + "".join(seen))


def _save_screenshot(page, target: Path) -> None:  # noqa: ANN001
    """A 256-colour PNG of the page (a plain screenshot of a photo is several hundred KB)."""
    from PIL import Image

    raw = target.with_suffix(".raw.png")
    page.screenshot(path=str(raw), full_page=True)
    Image.open(raw).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(target, optimize=True)
    raw.unlink()


def test_page_in_a_browser(shared_data: Path, tmp_path: Path) -> None:
    image = _browser_requirements(shared_data)
    import httpx
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # a loaded CI machine: generous waits (they cost nothing when met)

    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but nothing after the signature")
    too_big = tmp_path / "too_big.jpg"
    too_big.write_bytes(b"\xff\xd8" + os.urandom(3 * 1024 * 1024))
    screenshot = Path(os.environ.get("POLYPNET_DEMO_SCREENSHOT") or tmp_path / "demo.png")
    if not screenshot.is_absolute():
        screenshot = REPO_ROOT / screenshot

    run_dir = tmp_path / "cwd"
    run_dir.mkdir()
    proc = _start_demo(_free_port(), run_dir)
    try:
        # What `polypnet predict` writes for the same image and settings (while the server starts).
        from polypnet.cli.predict import main as predict

        assert (
            predict(
                [
                    str(image),
                    "--pretrained",
                    "kvasir-seg",
                    "--out",
                    str(tmp_path / "cli"),
                    "--no-progress",
                    "--device",
                    "cpu",
                ]
            )
            == 0
        )
        cli_mask = read_mask(tmp_path / "cli" / "masks" / f"{image.stem}.png")
        url, temp = _wait_for_address(proc)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 860}, accept_downloads=True)
            local = re.compile(rf"^(data:|blob:|{re.escape(url.rstrip('/'))})")
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url)
            expect(page.get_by_text("not a medical device")).to_be_visible()
            expect(page.locator("code", has_text="kvasir-seg")).to_be_visible()

            page.locator("#uploads input[type=file]").set_input_files(str(image))
            expect(page.locator("#overlays img").first).to_be_visible(timeout=60_000)
            link = page.locator("#downloads tr", has_text=f"{image.stem}_mask").locator("a")
            expect(link).to_be_visible()
            with page.expect_download() as download:
                link.click()
            page_mask_file = tmp_path / "from_page.png"
            download.value.save_as(page_mask_file)
            page_mask = read_mask(page_mask_file)
            assert page_mask.shape == cli_mask.shape and page_mask.sum() > 0
            np.testing.assert_array_equal(page_mask, cli_mask)
            expect(page.locator("#per-image")).to_contain_text(image.name)
            page.mouse.move(0, 0)
            _save_screenshot(page, screenshot)

            # A broken file: a message on the page, and the page still works.
            page.locator("#uploads input[type=file]").set_input_files(str(bad))
            expect(page.locator("#message")).to_contain_text("not_an_image.png")
            # Over --max-upload-mb: the page says so, and the server refuses it from any client.
            page.locator("#uploads input[type=file]").set_input_files(str(too_big))
            expect(page.get_by_text("exceed the maximum allowed size")).to_contain_text("too_big.jpg")
            browser.close()
        elsewhere = [u for u in requests if not local.match(u)]
        assert len(requests) > 10 and elsewhere == [], f"the page fetched from other hosts: {elsewhere}"
        refused = httpx.post(
            f"{url.rstrip('/')}/gradio_api/upload", files={"files": ("too_big.jpg", too_big.read_bytes())}
        )
        assert refused.status_code >= 400, refused.text
        assert "too_big.jpg" not in "".join(p.name for p in temp.rglob("*"))
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl+C
        proc.wait(timeout=30)
    assert screenshot.stat().st_size <= SCREENSHOT_LIMIT, f"{screenshot}: {screenshot.stat().st_size} bytes"
    assert not temp.exists(), "the session's temporary folder outlived the server"
    assert not any(run_dir.iterdir()), f"the demo wrote into its working folder: {list(run_dir.iterdir())}"
