#!/usr/bin/env python
"""Score checkpoints with and without test-time flips, on validation and test; write a table.

    python scripts/compare_tta.py runs/ablate/cpu/base/seed42/checkpoints/best-*.ckpt --out results/tta/cpu
"""

import sys

from polypnet.cli.compare_tta import main

if __name__ == "__main__":
    sys.exit(main())
