"""Compressed-image headers are checked before OpenCV sees the bytes: a PNG chunk whose length
runs past the buffer is refused here (libpng trusts it and spent seconds on one such message)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sensor_fusion.core.imageheader import ImageHeaderError, image_size

_PIC = np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)
PNG = cv2.imencode(".png", _PIC)[1].tobytes()
IDAT_LENGTH_AT = 8 + 25  # after the signature and the 25-byte IHDR chunk


def test_intact_png_size():
    assert image_size(PNG) == ("png", 32, 24)


def test_chunk_claiming_more_than_the_buffer_is_refused():
    bad = bytearray(PNG)
    assert bad[IDAT_LENGTH_AT + 4 : IDAT_LENGTH_AT + 8] == b"IDAT"
    bad[IDAT_LENGTH_AT] = 0xE6  # the long fuzz profile's case: IDAT claims ~3.8 GB
    with pytest.raises(ImageHeaderError, match="IDAT"):
        image_size(bytes(bad))


@pytest.mark.parametrize("cut", [40, len(PNG) - 12, len(PNG) - 1])
def test_png_without_its_end_is_refused(cut):
    with pytest.raises(ImageHeaderError):
        image_size(PNG[:cut])
