#!/usr/bin/env python
"""CVC-ClinicDB test scores per video sequence, from evaluate.py's per_image.csv.

    python scripts/per_sequence.py results/cpu/cvc-clinicdb_seed44_sequence_run/per_image.csv
"""

import sys

from polypnet.cli.per_sequence import main

if __name__ == "__main__":
    sys.exit(main())
