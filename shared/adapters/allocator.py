"""The C allocator: give freed memory back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util


def return_freed_memory() -> None:
    """Give the C allocator's free pages back to the system (glibc's ``malloc_trim``): freed
    onnxruntime buffers and load-time temporaries otherwise stay in the process's RSS."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return
    trim(0)
