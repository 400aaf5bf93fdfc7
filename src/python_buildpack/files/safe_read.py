"""Reading small files that the app (or a setting) names, without trusting what they are.

A leaf module: version files, the runtime catalogue and the NLTK corpora list are read through it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class UnreadableFileError(Exception):
    """A file exists but cannot be used; the message completes the sentence "<file> ..."."""


def read_bounded(path: Path, limit: int) -> bytes:
    """The content of a regular file of at most `limit` bytes.

    Raises FileNotFoundError when nothing is there, UnreadableFileError otherwise. The file is
    opened non-blocking and checked to be regular first: a FIFO or a device under a
    well-known name must fail the build, not hang it or fill the memory.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        if os.path.lexists(path):
            raise UnreadableFileError("is a broken symbolic link") from None
        raise
    except (OSError, ValueError) as e:
        raise UnreadableFileError(f"cannot be read ({_reason(e)})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnreadableFileError("is not a regular file")
        chunks: list[bytes] = []
        remaining = limit + 1  # one byte more than allowed tells a too-large file
        while remaining > 0 and (chunk := os.read(fd, min(remaining, 1 << 20))):
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as e:
        raise UnreadableFileError(f"cannot be read ({_reason(e)})") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise UnreadableFileError(f"is larger than {_size(limit)}")
    return data


def _reason(e: Exception) -> str:
    return (e.strerror if isinstance(e, OSError) else None) or str(e) or type(e).__name__


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"
