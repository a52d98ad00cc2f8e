"""``polypnet demo``: a local web page to drop images or a video on and see the polyp outlined.

Needs the ``[demo]`` extra (``pip install 'polypnet[demo]'``: Gradio). The page listens on
127.0.0.1 (this machine only) unless --host says otherwise; open the printed address in a browser.

Patient images stay on this machine: no share link, Gradio's analytics and run history off, no
flagging; uploads and results live in one temporary folder that is deleted when the command ends.
The page runs the same predictor as ``polypnet predict``: for the same image, weights, image
size, threshold and TTA it gives the same mask.

examples:
  polypnet demo                                  # shipped weights kvasir-seg, http://127.0.0.1:7860
  polypnet demo --pretrained kvasir-seg-improved --port 8080
  polypnet demo --checkpoint runs/paper_kvasir/RUN/checkpoints/best.ckpt
  polypnet demo --host 0.0.0.0                   # reachable from the network: mind patient data
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from ..training.host_memory import keep_freed_memory
from .model_source import add_model_source, error_text, has_model_source, image_size_of, model_from_args

DEFAULT_PRETRAINED = "kvasir-seg"
DEFAULT_PORT = 7860


def build_parser(prog: str = "polypnet demo") -> argparse.ArgumentParser:
    """The command line of ``polypnet demo``."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_source(p)  # its --tta sets the page's TTA switch at start
    serve = p.add_argument_group("server")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every interface)",
    )
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    serve.add_argument(
        "--max-upload-mb", type=float, default=100.0, help="largest file the page accepts, in MB (default 100)"
    )
    return p


def weights_text(info: dict[str, Any], size: int, device: str) -> str:
    """One Markdown line saying which weights the page runs, at which size, on which device."""
    source = info["source"]
    if source.startswith("pretrained:"):
        tag = source.split(":", 1)[1]
        from ..models.pretrained import pretrained_info

        meta = pretrained_info(info["model"], tag)
        where = f"shipped weights `{tag}` (trained on {meta.get('dataset', '?')}, {meta.get('protocol', '?')} recipe)"
    elif source == "untrained":
        where = "**untrained** (random) weights: the masks mean nothing"
    else:
        where = f"weights from `{Path(source).name}`"
    return f"Model `{info['model']}`, {where}; input {size}x{size} px, on {device}."


def main(argv: list[str] | None = None, prog: str = "polypnet demo") -> int:
    """Serve the page until interrupted; returns the exit code (2 on a usage error)."""
    keep_freed_memory()  # each batch reuses the heap instead of page-faulting fresh maps
    args = build_parser(prog).parse_args(argv)
    if not has_model_source(args):
        args.pretrained = DEFAULT_PRETRAINED
    if not 0 < args.port < 65536:
        print(f"error: --port must be in 1..65535, got {args.port}", file=sys.stderr)
        return 2
    if args.max_upload_mb <= 0:
        print(f"error: --max-upload-mb must be positive, got {args.max_upload_mb}", file=sys.stderr)
        return 2
    # Before Gradio is imported: it reads these once, at import.
    session = Path(tempfile.mkdtemp(prefix="polypnet-demo-"))
    os.environ["GRADIO_TEMP_DIR"] = str(session)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    # A plain `kill` must also delete the uploads: SIGTERM unwinds like Ctrl+C, through `finally`.
    if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        return _serve(args, session)
    finally:
        shutil.rmtree(session, ignore_errors=True)


def _serve(args: argparse.Namespace, session: Path) -> int:
    try:
        import gradio  # noqa: F401
    except ImportError:
        print("error: the demo needs Gradio: pip install 'polypnet[demo]'", file=sys.stderr)
        return 2
    from ..inference import CheckpointMismatchError
    from ..inference.demo_page import DemoAnalyser, build_page

    try:
        net, info = model_from_args(args)
        size, device = image_size_of(args, info), info.pop("device")
        analyser = DemoAnalyser(net, image_size=size, device=str(device))
        analyser.predictor(0.5, False).check()  # a size the model cannot take fails here, not on the page
    except (CheckpointMismatchError, FileNotFoundError, KeyError, TypeError, ValueError) as err:
        print(f"error: {error_text(err)}", file=sys.stderr)
        return 2
    work = session / "requests"
    work.mkdir()
    max_upload = f"{args.max_upload_mb:g} MB"
    page = build_page(analyser, weights_text(info, size, str(device)), work, max_upload, tta=args.tta)
    _, url, _ = page.queue(default_concurrency_limit=1).launch(
        server_name=args.host,
        server_port=args.port,
        share=False,
        inbrowser=False,
        prevent_thread_lock=True,
        max_file_size=int(args.max_upload_mb * 1024 * 1024),
        show_error=False,
        quiet=True,
        run_history=False,
        enable_monitoring=False,
        mcp_server=False,
        pwa=False,
        ssr_mode=False,
        footer_links=["gradio"],
    )
    print(
        f"polypnet demo: {info['source']} at {size} px on {device}; temporary files in {session}\n"
        f"open {url} in a browser (Ctrl+C stops the page and deletes the temporary files)",
        flush=True,
    )
    try:
        page.block_thread()
    finally:
        page.close()
    return 0
