#!/usr/bin/env python
"""Predict masks, overlays and per-frame tables for an image, a folder or a video.

    python scripts/predict.py frames/ --checkpoint runs/paper_kvasir/RUN/checkpoints/best.ckpt
    python scripts/predict.py clip.mp4 --checkpoint best.ckpt --tta

The same as ``polypnet predict`` (``--help`` lists every option). Logic: ``polypnet.predict``.
"""

import sys

from polypnet.cli.predict import main

if __name__ == "__main__":
    sys.exit(main(prog="predict.py"))
