"""Whether one file of an ``images`` or ``text`` folder can be read, TF-free.

``tf.image.decode_image`` recognises an image by its first bytes, whatever
its extension, and fails the whole epoch on one it cannot decode. These
checks find the usual culprits before training, reading little:

* the signature: PNG, JPEG, GIF or BMP (else: named, never quoted);
* PNG: every chunk walked and the CRC of each critical one checked (the
  file is read once, at disk speed; random damage fails a checksum), ending
  with ``IEND``;
* JPEG: the header segments up to the start of the scan are whole, and an
  end-of-image marker follows (a cut download has none);
* GIF: its blocks walked by their sizes, to the image data's end (the
  pixels themselves are only checked by decoding: ``bad_files: skip`` does);
* BMP: exactly as long as its header says (TensorFlow wants that);
* text: UTF-8 throughout.
"""

from __future__ import annotations

import codecs
import os
import zlib
from pathlib import Path
from typing import BinaryIO

from cbrun.suggest import describe_start

_HEAD_BYTES = 32
# The end-of-image marker is searched for in the last bytes of a JPEG.
_TAIL_BYTES = 1024
_TEXT_CHUNK = 1 << 20
# Longest PNG chunk the format allows.
_PNG_MAX_CHUNK = 2**31 - 1

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_GIFS = (b"GIF87a", b"GIF89a")
_BMP = b"BM"
# JPEG markers without a length: TEM, RST0-7 (and SOI, already read).
_JPEG_BARE = {0x01, *range(0xD0, 0xD8)}
_JPEG_START_OF_SCAN = 0xDA


def image_problem(path: Path) -> str | None:
    """Why TensorFlow could not decode this image, or None if it looks whole."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(_HEAD_BYTES)
            size = os.fstat(stream.fileno()).st_size
            if not head:
                return "is empty"
            if head.startswith(_PNG):
                return _png_problem(stream)
            if head.startswith(_JPEG):
                return _jpeg_problem(stream, size)
            if head.startswith(_GIFS):
                return _gif_problem(stream)
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    if head.startswith(_BMP) and len(head) >= 6:
        # TensorFlow's BMP decoder wants exactly the size the header states
        # (0: not stated).
        declared = int.from_bytes(head[2:6], "little")
        if declared in (0, size):
            return None
        if declared > size:
            return "is cut short (a BMP shorter than its header states)"
        return "is damaged (a BMP longer than its header states)"
    return (
        f"is not a PNG, JPEG, GIF or BMP image (it starts like {describe_start(head)})"
    )


def _png_problem(stream: BinaryIO) -> str | None:
    """Walk a PNG's chunks from after its signature; check each CRC."""
    stream.seek(len(_PNG))
    first = True
    while True:
        header = stream.read(8)
        if len(header) < 8:
            return "is cut short (a PNG without its end)"
        length, kind = int.from_bytes(header[:4], "big"), header[4:]
        if not kind.isalpha() or length > _PNG_MAX_CHUNK or (first and kind != b"IHDR"):
            return "is damaged (a PNG whose chunks are not PNG chunks)"
        first = False
        data = stream.read(length)
        stored = stream.read(4)
        if len(data) < length or len(stored) < 4:
            return "is cut short (a PNG without its end)"
        # libpng (TensorFlow's decoder) fails on a bad checksum in a critical
        # chunk (upper-case first letter) and only warns on an ancillary one.
        critical = kind[:1].isupper()
        if critical and zlib.crc32(kind + data) != int.from_bytes(stored, "big"):
            return f"is damaged (its PNG {kind.decode()} chunk fails its checksum)"
        if kind == b"IEND":
            return None


def _jpeg_problem(stream: BinaryIO, size: int) -> str | None:
    """Walk a JPEG's header segments to the scan; look for its end marker."""
    stream.seek(2)
    while True:
        marker = stream.read(2)
        if len(marker) < 2:
            return "is cut short (a JPEG without its image data)"
        if marker[0] != 0xFF:
            return "is damaged (a JPEG whose header segments are not JPEG ones)"
        if marker[1] == 0xFF:  # a fill byte before the marker
            stream.seek(-1, os.SEEK_CUR)
            continue
        if marker[1] == _JPEG_START_OF_SCAN:
            break
        if marker[1] in _JPEG_BARE:
            continue
        length = int.from_bytes(stream.read(2), "big")
        if length < 2:
            return "is damaged (a JPEG whose header segments are not JPEG ones)"
        if stream.seek(length - 2, os.SEEK_CUR) > size:
            return "is cut short (a JPEG without its image data)"
    scan = stream.tell()
    stream.seek(max(scan, size - _TAIL_BYTES))
    if b"\xff\xd9" in stream.read(_TAIL_BYTES):
        return None
    # Data after the image (a phone's trailer): the marker is earlier. The
    # scan data never holds 0xFF 0xD9 but as the end-of-image marker.
    stream.seek(scan)
    carry = b""
    while chunk := stream.read(_TEXT_CHUNK):
        if b"\xff\xd9" in carry + chunk:
            return None
        carry = chunk[-1:]
    return "is cut short (a JPEG without its end)"


def _gif_problem(stream: BinaryIO) -> str | None:
    """Walk a GIF's blocks (by their sizes, not decoding the pixels)."""
    stream.seek(10)
    packed = stream.read(3)[:1]
    if not packed:
        return "is cut short (a GIF without its image)"
    stream.seek(13 + _color_table(packed[0]))
    images = 0
    while True:
        block = stream.read(1)
        if not block or block == b";":  # the trailer (which TF does not need)
            return None if images else "is cut short (a GIF without its image)"
        if block == b"!":  # an extension: its label, then sub-blocks
            stream.read(1)
        elif block == b",":  # an image: its descriptor, LZW code size, data
            descriptor = stream.read(9)
            if len(descriptor) < 9:
                return "is cut short (a GIF without its image)"
            stream.seek(_color_table(descriptor[8]) + 1, os.SEEK_CUR)
            images += 1
        else:
            return "is damaged (a GIF whose blocks are not GIF blocks)"
        if not _skip_sub_blocks(stream):
            return "is cut short (a GIF without its end)"


def _color_table(packed: int) -> int:
    """The size in bytes of the colour table a GIF descriptor's flags announce."""
    return 3 * 2 ** ((packed & 0x07) + 1) if packed & 0x80 else 0


def _skip_sub_blocks(stream: BinaryIO) -> bool:
    """Skip sub-blocks up to their terminator; False if the file ends first."""
    while True:
        size = stream.read(1)
        if not size:
            return False
        if size == b"\x00":
            return True
        if len(stream.read(size[0])) < size[0]:
            return False


def text_problem(path: Path) -> str | None:
    """Why this file is not UTF-8 text, or None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    try:
        with open(path, "rb") as stream:
            while chunk := stream.read(_TEXT_CHUNK):
                decoder.decode(chunk)
                offset += len(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        at = offset + error.start
        return f"is not UTF-8 text (byte 0x{error.object[error.start]:02x} at {at})"
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    return None
