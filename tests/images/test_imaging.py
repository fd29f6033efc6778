"""The Pillow pipeline on generated pictures of every mode, without Django or Celery."""

import io
import struct
import zlib

import pytest
from PIL import Image

from images.imaging import Spec, UnreadableImage, probe, render
from tests.helpers.factories import picture

SPECS = [
    Spec("thumbnail", "crop", 150, 150, "JPEG"),
    Spec("display", "fit", 800, 600, "JPEG"),
    Spec("watermarked", "watermark", 800, 600, "JPEG", watermark_text="(c) mysite"),
    Spec("webp", "fit", 1600, 1600, "WEBP"),
    Spec("png", "fit", 300, 300, "PNG"),
]
ALLOWED = ["JPEG", "PNG", "WEBP", "GIF"]


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize(
    ("mode", "image_format"),
    [
        ("RGB", "JPEG"),
        ("L", "JPEG"),
        ("CMYK", "JPEG"),
        ("RGBA", "PNG"),
        ("LA", "PNG"),
        ("P", "PNG"),
        ("P", "GIF"),
        ("I;16", "PNG"),
        ("1", "PNG"),
        ("RGBA", "WEBP"),
    ],
)
def test_every_mode_renders_every_spec(mode, image_format):
    # given
    data = picture(mode, (1200, 900), image_format)

    # when
    rendered = {item.spec.name: item for item in render(data, SPECS)}

    # then: right sizes, right formats, modes each format can hold
    expected = {
        "thumbnail": ((150, 150), "JPEG"),
        "display": ((800, 600), "JPEG"),
        "watermarked": ((800, 600), "JPEG"),
        "webp": ((1200, 900), "WEBP"),
        "png": ((300, 225), "PNG"),
    }
    for name, (size, image_format_out) in expected.items():
        out = opened(rendered[name].data)
        assert (out.format, out.size) == (image_format_out, size), name
        assert (rendered[name].width, rendered[name].height) == size
        assert out.mode in {"RGB", "RGBA", "L"}, name
        if image_format_out == "JPEG":
            assert out.mode == "RGB", name


def test_sixteen_bit_is_scaled_not_clipped():
    data = picture("I;16", (256, 64), "PNG")

    [out] = render(data, [Spec("copy", "fit", 256, 64, "PNG")])

    pixels = opened(out.data).convert("L")
    low, high = pixels.getextrema()
    assert low < 10
    assert high > 245  # a 16-bit gradient spans the 8-bit range, not 255 everywhere


def test_transparency_is_kept_in_png_and_webp_and_flattened_white_in_jpeg():
    image = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")

    outs = render(
        buffer.getvalue(),
        [Spec("j", "fit", 100, 100, "JPEG"), Spec("w", "fit", 100, 100, "WEBP")],
    )

    jpeg, webp = (opened(out.data) for out in outs)
    assert jpeg.getpixel((50, 50)) == (255, 255, 255)
    assert webp.mode == "RGBA"
    assert webp.getpixel((50, 50))[3] == 0


def test_exif_orientation_is_applied_and_metadata_stripped():
    # given: a landscape JPEG whose EXIF says "rotate 90", with a comment and GPS-ish tags
    source = Image.new("RGB", (800, 400), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    exif[0x010F] = "CameraMaker"
    buffer = io.BytesIO()
    source.save(buffer, "JPEG", exif=exif.tobytes(), comment=b"secret")

    # when
    [fit, crop] = render(
        buffer.getvalue(),
        [Spec("fit", "fit", 300, 300, "JPEG"), Spec("crop", "crop", 100, 50, "JPEG")],
    )

    # then: displayed upright (portrait), and nothing of the metadata travels
    out = opened(fit.data)
    assert out.size == (150, 300)
    assert dict(out.getexif()) == {}
    assert "comment" not in out.info
    assert "icc_profile" not in out.info
    assert opened(crop.data).size == (100, 50)


def test_large_jpeg_is_decoded_at_reduced_scale_and_still_sized_right():
    data = picture("RGB", (4000, 3000), "JPEG", quality=90)

    rendered = render(data, SPECS)

    sizes = {item.spec.name: (item.width, item.height) for item in rendered}
    assert sizes == {
        "thumbnail": (150, 150),
        "display": (800, 600),
        "watermarked": (800, 600),
        "webp": (1600, 1200),
        "png": (300, 225),
    }


def test_watermark_changes_the_corner_it_names():
    data = picture("RGB", (800, 600), "PNG")
    plain, marked = render(
        data,
        [
            Spec("plain", "fit", 800, 600, "PNG"),
            Spec("marked", "watermark", 800, 600, "PNG", watermark_text="WATERMARK"),
        ],
    )
    a, b = opened(plain.data), opened(marked.data)

    def differs(box):
        return a.crop(box).tobytes() != b.crop(box).tobytes()

    assert differs((500, 500, 800, 600))  # bottom-right
    assert not differs((0, 0, 300, 100))  # top-left untouched


def test_small_images_are_not_upscaled():
    [out] = render(picture("RGB", (120, 90), "PNG"), [Spec("display", "fit", 800, 600, "JPEG")])

    assert (out.width, out.height) == (120, 90)


def test_probe_reads_the_format_from_the_content():
    found = probe(picture("RGB", (30, 20), "PNG"), allowed_formats=ALLOWED, max_pixels=10_000)

    assert (found.format, found.width, found.height) == ("PNG", 30, 20)


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def bomb_png() -> bytes:
    """A tiny PNG whose header declares 50000 x 50000 pixels."""
    data = bytearray(picture("L", (8, 8), "PNG"))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", 50000, 50000)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"just some text, renamed to .jpg\n" * 20, "not an image"),
        (truncated(picture("RGB", (100, 80), "JPEG")), "damaged or incomplete"),
        (truncated(picture("RGB", (100, 80), "PNG")), "damaged or incomplete"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 500, "not an image"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "not an image"),
        (b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n", "not an image"),
        (picture("RGB", (20, 20), "BMP"), "BMP images are not accepted"),
        (picture("RGB", (200, 100), "PNG"), "at most 10,000 pixels"),
    ],
    ids=[
        "empty",
        "text",
        "truncated-jpeg",
        "truncated-png",
        "garbage-jpeg",
        "svg",
        "pdf",
        "bmp",
        "big",
    ],
)
def test_probe_refuses_with_a_reason(data, message):
    with pytest.raises(UnreadableImage, match=message):
        probe(data, allowed_formats=ALLOWED, max_pixels=10_000)


def test_a_cut_off_jpeg_is_refused_in_plain_words():
    # A JPEG missing its last bytes: Pillow says "image file is truncated (5 bytes
    # not processed)", words for a developer, not for the person who sent it.
    data = picture("RGB", (100, 80), "JPEG")[:-5]

    with pytest.raises(UnreadableImage) as refused:
        probe(data, allowed_formats=ALLOWED, max_pixels=10_000)

    assert str(refused.value) == (
        "The image is damaged or incomplete; save or export it again and retry."
    )
    assert "truncated" in str(refused.value.__cause__)  # Pillow's words stay for a developer


def test_probe_refuses_a_decompression_bomb_without_decoding_it():
    data = bomb_png()
    assert len(data) < 1000

    with pytest.raises(UnreadableImage, match="The image has too many pixels"):
        probe(data, allowed_formats=ALLOWED, max_pixels=50_000_000)


def rotated_jpeg(size=(640, 480), orientation=6) -> bytes:
    """A landscape JPEG whose EXIF says how to turn it upright, red in its top-left corner."""
    source = Image.new("RGB", size, (20, 20, 200))
    source.paste((220, 20, 20), (0, 0, size[0] // 4, size[1] // 4))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    source.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def mpo(size=(640, 480)) -> bytes:
    """What phones and cameras write: a JPEG followed by more frames (Pillow says MPO)."""
    first, second = Image.new("RGB", size, (200, 30, 30)), Image.new("RGB", size, (30, 30, 200))
    buffer = io.BytesIO()
    first.save(buffer, format="MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(buffer.getvalue())).format == "MPO"
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("orientation", "size"), [(1, (640, 480)), (3, (640, 480)), (6, (480, 640)), (8, (480, 640))]
)
def test_probe_gives_the_size_after_the_exif_rotation(orientation, size):
    found = probe(rotated_jpeg(orientation=orientation), allowed_formats=ALLOWED, max_pixels=10**6)

    assert (found.format, (found.width, found.height)) == ("JPEG", size)


def test_renditions_of_an_exif_rotated_photo_are_upright():
    # when: orientation 6 (turn 90 degrees clockwise to show it)
    [display] = render(rotated_jpeg(), [Spec("display", "fit", 800, 600, "JPEG")])

    # then: portrait, and the red corner has turned from top-left to top-right
    out = opened(display.data)
    assert out.size == (display.width, display.height) == (450, 600)
    red, blue = out.getpixel((out.width - 20, 20)), out.getpixel((20, 20))
    assert red[0] > 150 > red[2]
    assert blue[2] > 150 > blue[0]


def test_an_mpo_is_read_as_a_jpeg_and_renders_its_first_frame():
    data = mpo()

    found = probe(data, allowed_formats=ALLOWED, max_pixels=10**6)
    [display] = render(data, [Spec("display", "fit", 320, 320, "JPEG")])

    assert (found.format, found.width, found.height) == ("JPEG", 640, 480)
    out = opened(display.data)
    assert out.size == (320, 240)
    assert out.getpixel((160, 120))[0] > 150  # the first frame, red
