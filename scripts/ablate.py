#!/usr/bin/env python
"""Run the paper's ablation studies (configs/ablations/*.yaml) and draw their figures.

    python scripts/ablate.py attention_position
    python scripts/ablate.py all --protocol paper --accelerator gpu
"""

import sys

from polypnet.cli.ablate import main

if __name__ == "__main__":
    sys.exit(main())
