"""A RIFF/WAVE header walk that finds a truncated ``data`` chunk, which libsndfile does not report.

libsndfile silently shortens a WAV file whose data chunk claims more bytes than the file holds, so
a file cut off in the middle of its samples would load as a shorter clip; :mod:`audiogan.audio.io`
asks :func:`missing_wav_data` before decoding and rejects such files.
"""

from __future__ import annotations

import struct
from pathlib import Path

__all__ = ["missing_wav_data"]

_WAV_SIZE_PLACEHOLDER = 0xFFFFFFFF  # data size written by streaming encoders that cannot seek
_MAX_RIFF_CHUNKS = 4096  # bound on the header walk of a (possibly hostile) WAV file


def missing_wav_data(file: Path) -> tuple[int, int] | None:
    """``(declared, available)`` data bytes when the ``data`` chunk is truncated, else ``None``.

    Files that are not RIFF/RIFX WAVE, streaming placeholders (data size ``0xFFFFFFFF``) and
    RF64/W64 files are not checked (``None``). At most 4096 chunks are walked.
    """
    size = file.stat().st_size
    with open(file, "rb") as handle:
        riff = handle.read(12)
        if len(riff) < 12 or riff[8:12] != b"WAVE" or riff[:4] not in (b"RIFF", b"RIFX"):
            return None
        order = "<" if riff[:4] == b"RIFF" else ">"
        position = 12
        for _ in range(_MAX_RIFF_CHUNKS):
            handle.seek(position)
            header = handle.read(8)
            if len(header) < 8:
                return None
            chunk_id, chunk_size = header[:4], struct.unpack(order + "I", header[4:])[0]
            if chunk_id == b"data":
                available = size - position - 8
                if chunk_size != _WAV_SIZE_PLACEHOLDER and chunk_size > available:
                    return chunk_size, available
                return None
            position += 8 + chunk_size + (chunk_size & 1)  # chunks are word-aligned
    return None
