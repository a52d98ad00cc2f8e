#!/usr/bin/env python
"""Export a model to ONNX and TorchScript and check both against PyTorch.

    python scripts/export.py --checkpoint runs/paper_kvasir/RUN/checkpoints/best.ckpt
    python scripts/export.py --model iam_unet --weights state_dict.pt --format onnx --out deploy

The same as ``polypnet export`` (``--help`` lists every option). Logic: ``polypnet.export``.
"""

import sys

from polypnet.cli.export import main

if __name__ == "__main__":
    sys.exit(main(prog="export.py"))
