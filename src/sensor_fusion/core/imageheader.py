"""Size of a JPEG or PNG from its header, read before anything is decoded.

A compressed image's header states its size, and OpenCV allocates that size before it reads
a single pixel (up to 2^30 pixels: 3 GB for BGR). A corrupt or hostile header would make one
message cost gigabytes and seconds, so the decoder reads the claimed size here first and
refuses what no camera sends. ``image_transport``'s compressed transport sends JPEG or PNG
only; anything else is not a camera image.

A PNG's chunk lengths are checked against the buffer too: libpng trusts them, and one flipped
bit in an IDAT length (a chunk claiming 3.8 GB in a 2.4 KB message) cost OpenCV 1-4 s of CPU
to reject (found by the long fuzz profile), where walking the chunk headers costs microseconds.
"""

from __future__ import annotations

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8"
# start-of-frame markers (SOF0..SOF15 without DHT C4, JPG C8, DAC CC) carry the frame size
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0-7: no length field


class ImageHeaderError(ValueError):
    """Not a JPEG or PNG, or its header is unreadable."""


def image_size(data: bytes | memoryview) -> tuple[str, int, int]:
    """``(format, width, height)`` claimed by a JPEG or PNG header; raises ImageHeaderError."""
    data = memoryview(data).cast("B")  # indexing gives Python ints (no uint8 overflow)
    b = bytes(data[:8])
    if b.startswith(PNG_MAGIC):
        head = bytes(data[8:24])
        if len(head) < 16 or head[4:8] != b"IHDR":
            raise ImageHeaderError("PNG without an IHDR header")
        _check_png_chunks(data)
        return "png", int.from_bytes(head[8:12], "big"), int.from_bytes(head[12:16], "big")
    if b.startswith(JPEG_MAGIC):
        return ("jpeg", *_jpeg_size(data))
    raise ImageHeaderError("neither JPEG nor PNG")


def _check_png_chunks(data: memoryview) -> None:
    """Every chunk (4-byte length, type, payload, CRC) lies inside the buffer, up to IEND."""
    n, i = len(data), 8
    while i + 12 <= n:
        length = int.from_bytes(data[i : i + 4], "big")
        kind = bytes(data[i + 4 : i + 8])
        if length > n - i - 12:
            raise ImageHeaderError(f"PNG chunk {kind!r} at byte {i} claims {length} bytes, {n - i - 12} left")
        if kind == b"IEND":
            return
        i += 12 + length
    raise ImageHeaderError("PNG ends before its IEND chunk")


def _jpeg_size(data: memoryview) -> tuple[int, int]:
    """Walk the marker segments to the first start-of-frame (headers only, a few hops)."""
    n, i = len(data), 2
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise ImageHeaderError(f"JPEG marker expected at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            break
        length = (data[i + 2] << 8) | data[i + 3]
        if length < 2:
            raise ImageHeaderError(f"JPEG segment length {length} at byte {i}")
        if marker in _SOF:
            if i + 9 > n:
                break
            h = (data[i + 5] << 8) | data[i + 6]
            w = (data[i + 7] << 8) | data[i + 8]
            return w, h
        i += 2 + length
    raise ImageHeaderError("JPEG has no frame header")
