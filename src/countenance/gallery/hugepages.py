"""Back large in-memory index buffers with 2 MiB pages (Linux transparent huge pages).

A query that reads vectors scattered over hundreds of MB (the exact vectors an IVF search
re-ranks; earlier an HNSW graph: 1M templates, 488 MB of vectors and 370 MB of graph) also misses
the TLB on nearly every read with 4 KiB pages; with 2 MiB pages the whole buffer needs a few
hundred TLB entries. For the HNSW index that cut the 1M-template p50 by about 15% on this
project's 2-core machine (docs/GALLERY.md).

Most distributions set THP to ``madvise``: a program only gets huge pages where it asks, and
FAISS's buffers (C++ ``std::vector``) never ask. :func:`advise_huge_pages` asks for a buffer
that already exists: ``MADV_HUGEPAGE`` (later faults and the kernel's background collapser may
use huge pages) then ``MADV_COLLAPSE`` (Linux >= 6.1: collapse it now, synchronously; about
0.1 s per 200 MB, nothing for parts already collapsed). Best effort: on other systems, older
kernels or with THP set to ``never`` the memory stays as it was and search is unchanged.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
from functools import lru_cache

__all__ = ["advise_huge_pages", "huge_page_bytes"]

MADV_HUGEPAGE = 14
MADV_COLLAPSE = 25
HUGE_PAGE = 2 << 20


@lru_cache(maxsize=1)
def _madvise():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise


def advise_huge_pages(address: int, nbytes: int) -> bool:
    """Ask the kernel to back ``nbytes`` of memory at ``address`` with huge pages.

    Only whole 4 KiB pages inside the buffer are advised (never a neighbour's memory), and
    only when they span at least one 2 MiB page. Returns whether the collapse was accepted
    (False: not Linux, kernel without ``MADV_COLLAPSE``, THP off, or too small).
    """
    madvise = _madvise()
    if madvise is None or nbytes < HUGE_PAGE:
        return False
    page = mmap.PAGESIZE
    start = -(-int(address) // page) * page
    stop = (int(address) + int(nbytes)) // page * page
    if stop - start < HUGE_PAGE:
        return False
    madvise(start, stop - start, MADV_HUGEPAGE)
    # EAGAIN only means some 2 MiB extent could not be collapsed right now (the rest were).
    return madvise(start, stop - start, MADV_COLLAPSE) == 0 or ctypes.get_errno() == 11


def huge_page_bytes(address: int, nbytes: int) -> int:
    """How many bytes of the mappings overlapping ``[address, address + nbytes)`` are huge
    pages now (from ``/proc/self/smaps``; 0 where that cannot be read). For tests and
    benchmarks: it counts whole mappings, which may extend beyond the buffer."""
    total = 0
    try:
        with open("/proc/self/smaps") as smaps:
            inside = False
            for line in smaps:
                head = line.split(" ", 1)[0]
                if "-" in head and ":" not in head:
                    low, high = (int(v, 16) for v in head.split("-"))
                    inside = low < address + nbytes and high > address
                elif inside and line.startswith("AnonHugePages:"):
                    total += int(line.split()[1]) * 1024
    except OSError:
        return 0
    return total
