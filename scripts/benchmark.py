#!/usr/bin/env python
"""IAM-UNet vs smp peers: FLOPs, latency, throughput, training speed, memory, in one run.

    python scripts/benchmark.py --out docs/benchmark_cpu.json
    python scripts/benchmark.py --quick
"""

import sys

from polypnet.cli.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
