#!/usr/bin/env python
"""Train a polyp segmentation model (LightningCLI). With no arguments: the quickstart on the bundled sample.

python scripts/fit.py --help
python scripts/fit.py --config configs/paper_cvc.yaml --accelerator gpu --devices 1
python scripts/fit.py --accelerator tpu --devices 8
"""

import sys

from polypnet.cli.fit import main

if __name__ == "__main__":
    sys.exit(main())
