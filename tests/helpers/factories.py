"""Test data made on the fly: generated pictures and uploads."""

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image


def picture(mode="RGB", size=(640, 480), image_format="JPEG", **save_options) -> bytes:
    """A generated picture: a gradient with a block, so crops and rotations show."""
    image = Image.linear_gradient("L").resize(size).convert(mode if mode != "I;16" else "I")
    if mode == "I;16":
        image = image.point(lambda value: value * 256).convert("I;16")
    elif mode in {"RGB", "RGBA", "CMYK"}:
        image.paste(
            (200, 30, 30) if mode != "CMYK" else (0, 200, 200, 0),
            (0, 0, size[0] // 4, size[1] // 4),
        )
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **save_options)
    return buffer.getvalue()


def upload(data: bytes, name="photo.jpg", content_type="image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)
