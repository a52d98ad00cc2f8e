#!/usr/bin/env python
"""Runs of different protocols side by side: Dice per epoch as a figure, best and test scores as a table.

    python scripts/compare_runs.py RUN_A RUN_B --labels A B --out results/compare
"""

import sys

from polypnet.cli.compare_runs import main

if __name__ == "__main__":
    sys.exit(main())
