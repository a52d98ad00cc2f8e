#!/usr/bin/env python
"""Reproduce the paper: train its protocol per dataset, evaluate the test split, write results/.

    python scripts/reproduce.py --protocol paper --data-dir ../shared/data
    python scripts/reproduce.py --protocol cpu --datasets cvc-clinicdb
"""

import sys

from polypnet.cli.reproduce import main

if __name__ == "__main__":
    sys.exit(main())
