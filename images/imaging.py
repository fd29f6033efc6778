"""Pillow work: check an upload, and turn one original into every rendition.

No Django in here, so it is easy to test and to measure (benchmarks/). The
original is decoded once; JPEGs are decoded at reduced scale (draft mode) when
every rendition is smaller, and each rendition is downscaled from that one
decoded image with ``reducing_gap`` (a fast integer reduce before the filter).
"""

import math
from dataclasses import dataclass, field
from io import BytesIO

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
# What a format is served as: from the bytes we read, never from a client's file name.
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
# Formats that are another one for us: phones and cameras write JPEGs as MPO
# (a JPEG with more frames after the first), which every JPEG reader shows.
SAME_AS = {"MPO": "JPEG"}
OPERATIONS = ("crop", "fit", "watermark")
WATERMARK_POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right", "center")
REDUCING_GAP = 3.0
QUALITY = {"JPEG": 85, "WEBP": 80}
# libwebp's effort 0-6: Pillow's default 4 took 2.5x as long as 2 on our photos
# for files of the same size (benchmarks/README.md).
ENCODER_OPTIONS = {"WEBP": {"method": 2}}


class UnreadableImage(ValueError):
    """The content is not an image we accept; the message says why, for a person."""


class UnsupportedFormat(UnreadableImage):
    """The content is not an image, or one of a format we do not take."""


class TooManyPixels(UnreadableImage):
    """An image larger (in pixels) than we decode."""


@dataclass(frozen=True)
class Spec:
    """One rendition: what to do (crop to fill, fit inside, fit + watermark), how big, as what."""

    name: str
    op: str
    width: int
    height: int
    format: str
    watermark_text: str = ""
    watermark_position: str = "bottom-right"

    def __post_init__(self):
        if self.op not in OPERATIONS:
            raise ValueError(f"rendition {self.name}: op must be one of {OPERATIONS}")
        if self.format not in EXTENSIONS:
            raise ValueError(f"rendition {self.name}: format must be one of {tuple(EXTENSIONS)}")
        if self.watermark_position not in WATERMARK_POSITIONS:
            raise ValueError(f"rendition {self.name}: unknown watermark position")

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """The rendition's size for a source of ``width`` x ``height`` (never upscaled)."""
        if self.op == "crop":
            return (min(self.width, width), min(self.height, height))
        scale = min(self.width / width, self.height / height, 1.0)
        return (max(1, round(width * scale)), max(1, round(height * scale)))


@dataclass(frozen=True)
class Probe:
    format: str
    width: int
    height: int


@dataclass
class Rendered:
    spec: Spec
    width: int
    height: int
    data: bytes = field(repr=False)


def probe(data: bytes, *, allowed_formats: list[str], max_pixels: int) -> Probe:
    """Check that ``data`` is a whole image of an allowed format and size.

    The format comes from the content, never from a name or a content type.
    Every pixel is decoded once (JPEGs at 1/8 scale, which still reads the
    whole file), so truncated and corrupt files are caught here.
    """
    if not data:
        raise UnreadableImage("The file is empty.")
    try:
        with Image.open(BytesIO(data)) as image:
            image_format = format_of(image)
            if image_format not in allowed_formats:
                raise UnsupportedFormat(
                    f"{image_format} images are not accepted; use {', '.join(allowed_formats)}."
                )
            width, height = image.size
            if width * height > max_pixels:
                raise _too_many_pixels(width, height, max_pixels)
            if image_format == "JPEG":
                image.draft(image.mode, (math.ceil(width / 8), math.ceil(height / 8)))
            image.load()
            if _swaps_axes(image):  # the size it is shown at, once rotated upright
                width, height = height, width
            return Probe(format=image_format, width=width, height=height)
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(f"The image has too many pixels ({exc}).") from exc
    except UnidentifiedImageError as exc:
        raise UnsupportedFormat("The file is not an image in a format we can read.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, UnreadableImage):
            raise
        # Pillow's words ("image file is truncated (5 bytes not processed)") are
        # for a developer (they stay on the chained exception); a person needs to
        # know the file itself is at fault.
        raise UnreadableImage(
            "The image is damaged or incomplete; save or export it again and retry."
        ) from exc


def format_of(image: Image.Image) -> str:
    """The format we take ``image`` as: Pillow's name for it, MPO read as JPEG."""
    return SAME_AS.get(image.format or "", image.format or "")


def _too_many_pixels(width: int, height: int, max_pixels: int) -> TooManyPixels:
    return TooManyPixels(
        f"The image is {width}x{height} pixels; at most {max_pixels:,} pixels are accepted."
    )


def render(data: bytes, specs: list[Spec]) -> list[Rendered]:
    """Decode ``data`` once and make every rendition in ``specs`` from it."""
    try:
        with Image.open(BytesIO(data)) as image:
            _draft_for(image, specs)
            image.load()
            base = _normalized(ImageOps.exif_transpose(image))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnreadableImage(f"The image could not be decoded ({exc}).") from exc

    # Largest first; each plain copy becomes the source of the smaller ones, so
    # the full-size image is resampled once, not once per rendition.
    sizes = {spec.name: spec.output_size(*base.size) for spec in specs}
    source = base
    rendered = {}
    for spec in sorted(specs, key=lambda s: sizes[s.name][0] * sizes[s.name][1], reverse=True):
        width, height = sizes[spec.name]
        if source.width < width or source.height < height:
            source = base
        resized = _resized(source, spec, (width, height))
        rendered[spec.name] = Rendered(
            spec, width, height, _encoded(_finished(resized, spec), spec.format)
        )
        if spec.op == "fit":
            source = resized
    return [rendered[spec.name] for spec in specs]


def _draft_for(image: Image.Image, specs: list[Spec]) -> None:
    """Let libjpeg decode at the smallest scale that still covers every rendition."""
    if format_of(image) != "JPEG":
        return
    width, height = image.size
    if _swaps_axes(image):
        width, height = height, width
    scale = max(_scale_needed(spec, width, height) for spec in specs)
    if scale >= 1:
        return
    needed = (math.ceil(width * scale), math.ceil(height * scale))
    if _swaps_axes(image):
        needed = needed[::-1]
    image.draft(image.mode, needed)


def _swaps_axes(image: Image.Image) -> bool:
    return image.getexif().get(0x0112) in {5, 6, 7, 8}  # EXIF orientation: rotated 90/270


def _scale_needed(spec: Spec, width: int, height: int) -> float:
    if spec.op == "crop":
        return min(max(spec.width / width, spec.height / height), 1.0)
    out_width, out_height = spec.output_size(width, height)
    return max(out_width / width, out_height / height)


def _normalized(image: Image.Image) -> Image.Image:
    """RGB, or RGBA where the source has transparency; 16-bit scaled to 8; no metadata."""
    if image.mode in {"I;16", "I;16B", "I;16L", "I;16N", "I"}:
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    elif image.mode == "F":
        image = image.point(lambda value: value * 255).convert("L")
    has_alpha = image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or (
        image.mode == "P" and "transparency" in image.info
    )
    image = image.convert("RGBA" if has_alpha else "RGB")
    image.info = {}  # no EXIF, ICC profile or comments travel into renditions
    return image


def _resized(source: Image.Image, spec: Spec, size: tuple[int, int]) -> Image.Image:
    box = _centered_box(source.size, size) if spec.op == "crop" else None
    if size == source.size and box is None:
        return source
    return source.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=REDUCING_GAP)


def _finished(image: Image.Image, spec: Spec) -> Image.Image:
    if spec.op == "watermark":
        return _watermarked(image, spec.watermark_text, spec.watermark_position)
    return image


def _centered_box(
    source: tuple[int, int], target: tuple[int, int]
) -> tuple[float, float, float, float]:
    """The largest centred region of ``source`` with the aspect ratio of ``target``."""
    if source == target:
        return (0, 0, *source)
    (src_w, src_h), (dst_w, dst_h) = source, target
    scale = min(src_w / dst_w, src_h / dst_h)
    crop_w, crop_h = dst_w * scale, dst_h * scale
    left, top = (src_w - crop_w) / 2, (src_h - crop_h) / 2
    return (left, top, left + crop_w, top + crop_h)


def _watermarked(image: Image.Image, text: str, position: str) -> Image.Image:
    if not text:
        return image
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    font = ImageFont.load_default(size=max(12, image.height // 18))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    text_w, text_h = right - left, bottom - top
    margin = max(8, image.height // 40)
    x = {"left": margin, "right": image.width - text_w - margin}.get(
        position.rsplit("-", maxsplit=1)[-1], (image.width - text_w) // 2
    )
    y = {"top": margin, "bottom": image.height - text_h - margin}.get(
        position.split("-", maxsplit=1)[0], (image.height - text_h) // 2
    )
    origin = (x - left, y - top)
    draw.text((origin[0] + 1, origin[1] + 1), text, font=font, fill=(0, 0, 0, 110))
    draw.text(origin, text, font=font, fill=(255, 255, 255, 170))
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert(image.mode)


def _encoded(image: Image.Image, image_format: str) -> bytes:
    if image_format == "JPEG" and image.mode == "RGBA":
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    buffer = BytesIO()
    options = {"quality": QUALITY[image_format]} if image_format in QUALITY else {}
    image.save(buffer, format=image_format, **options, **ENCODER_OPTIONS.get(image_format, {}))
    return buffer.getvalue()
