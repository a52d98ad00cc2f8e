#!/usr/bin/env python
"""Evaluate a checkpoint with torchmetrics: F1 (Dice), IoU, precision, recall, global and per image.

python scripts/evaluate.py --checkpoint runs/paper_cvc/.../checkpoints/best-....ckpt
python scripts/evaluate.py --model iam_unet --weights model.pt --data path/to/pairs --split all
"""

import sys

from polypnet.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
