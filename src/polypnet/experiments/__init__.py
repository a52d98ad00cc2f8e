"""Experiments: evaluation, reproduction of the paper, ablations, comparisons, benchmarks, reports."""
