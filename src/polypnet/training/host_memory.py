"""Keep freed host memory in the process, instead of giving it back to the kernel after every
training step or inference batch (``polypnet fit`` and every command that runs the network on a
batch call it; ``benchmark`` measures with and without).

glibc serves each allocation above its mmap threshold (128 KiB at first, rising to at most
32 MiB) with a fresh ``mmap`` and unmaps it when freed. A training step at 256 px allocates and
frees activations and gradients of up to hundreds of MiB, so every step maps them again and the
kernel zero-fills them page by page: on 2 CPU cores a large share of the step is spent in page
faults rather than in the network. Raising the mmap and trim thresholds lets the heap keep that
memory and reuse it the next step; the cost is that the process keeps its peak footprint. A
forward pass at batch 8 pays the same toll, so evaluation and prediction in PyTorch gain too.
``polypnet benchmark --train-only`` measures the step both ways (``train_host_memory``).
"""

from __future__ import annotations

import ctypes
import os
import platform

#: mallopt's parameter numbers (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: The largest value mallopt takes (an int): allocations below it come from the heap.
THRESHOLD_BYTES = 2**31 - 1

#: Settings through which a user already chose how the allocator behaves; they win.
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES", "LD_PRELOAD")


def on_glibc() -> bool:
    """Whether this process runs on glibc, the C library whose ``mallopt`` this module calls."""
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def applies() -> bool:
    """Whether :func:`keep_freed_memory` would take effect: on glibc, with no ``USER_SETTINGS`` set."""
    return on_glibc() and not any(os.environ.get(name) for name in USER_SETTINGS)


def keep_freed_memory(threshold: int = THRESHOLD_BYTES) -> bool:
    """Make glibc's malloc keep freed blocks below ``threshold`` bytes for reuse.

    Returns True when both settings took effect; False where the C library is not glibc, or
    where the environment already sets the allocator up (``USER_SETTINGS``), which is left alone.
    """
    if not applies():
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # The mmap threshold first: setting either one also stops glibc from adjusting them itself.
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, threshold))
