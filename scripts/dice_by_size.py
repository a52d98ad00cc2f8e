#!/usr/bin/env python
"""Test Dice against polyp size, for one or more runs, from evaluate.py's per_image.csv.

    python scripts/dice_by_size.py RUN_A/per_image.csv RUN_B/per_image.csv --labels A B --out results/size
"""

import sys

from polypnet.cli.dice_by_size import main

if __name__ == "__main__":
    sys.exit(main())
