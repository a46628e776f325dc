"""How the command's own process asks the kernel for memory."""

from __future__ import annotations

import os

__all__ = ["prefer_small_pages"]


def prefer_small_pages() -> bool:
    """Stop numpy advising transparent huge pages for its large arrays, in the command's own process; returns
    whether the advice is now off.

    numpy marks every array of 4 MiB or more ``MADV_HUGEPAGE``. Where the kernel
    defragments for such advice (``/sys/kernel/mm/transparent_hugepage/defrag``
    = ``madvise``, a common default), the first touch of a fresh array can stall
    on memory compaction once the inference stage has fragmented memory; on the
    2-core development machine the statistics stage drew its resamples 5-10x
    slower (0.1-0.2 s per 20 MB array instead of 0.02 s) and a run of the
    overhead benchmark's audit took about 0.3 s longer. The arrays are streamed
    once, so huge pages buy little. ``NUMPY_MADVISE_HUGEPAGE`` set by the user
    wins (numpy reads it at import).
    """
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return os.environ["NUMPY_MADVISE_HUGEPAGE"] == "0"
    import numpy as np

    core = getattr(np, "_core", None) or getattr(np, "core", None)
    setter = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
    if setter is None:  # a numpy without the switch: nothing to turn off
        return False
    setter(False)
    os.environ["NUMPY_MADVISE_HUGEPAGE"] = "0"  # the same for the processes we start (ray workers, helpers)
    return True
