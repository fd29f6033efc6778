"""Renditions of 12-megapixel JPEGs: our one-decode pipeline against a naive, tutorial-style one.

    python benchmarks/image_pipeline.py [--images 8]

Both variants make the project's four renditions (thumbnail fit 150x150 JPEG,
display fit 800x600 JPEG, watermarked fit 800x600 JPEG, fit 1600x1600 WEBP) of
the same N synthetic photos (4000x3000, seeded: gradients, shapes, grain; JPEG
quality 90) and encode them with the same formats and qualities.

- ours: ``images.imaging.render`` decodes each original once, at reduced scale
  (JPEG draft mode), and derives every rendition with ``reducing_gap``.
- naive: for every rendition, open the original again, copy the full image and
  resize it at full size with LANCZOS (no draft, no reducing_gap).

The images are generated once, before anything is timed, and written to a
temporary directory. Each variant runs in its own fresh process (spawn), which
reads them, renders one as a warm-up, then times all N (wall clock) and reports
its peak RSS (``ru_maxrss``, which includes the interpreter, the imports and
the N originals held in memory: the "base" column is that, before any render).
"""

import argparse
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from io import BytesIO
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw, ImageFilter, ImageFont  # noqa: E402

from images.imaging import QUALITY, Spec, render  # noqa: E402

WIDTH, HEIGHT = 4000, 3000
SEED = 20240601
# The renditions of settings.IMAGE_RENDITIONS, spelled out so naive_render can mirror them.
SPECS = [
    Spec("thumbnail", "fit", 150, 150, "JPEG"),
    Spec("display", "fit", 800, 600, "JPEG"),
    Spec("watermarked", "watermark", 800, 600, "JPEG", watermark_text="© mysite"),
    Spec("webp", "fit", 1600, 1600, "WEBP"),
]
NAIVE_QUALITY = {"JPEG": 85, "WEBP": 80}
assert NAIVE_QUALITY == QUALITY, "the naive variant must encode like ours"


# --- synthetic photos --------------------------------------------------------


def make_photo(seed: int) -> bytes:
    """A deterministic 4000x3000 JPEG (quality 90) that compresses roughly like a photo."""
    import numpy as np  # only the parent generates: keeps numpy out of the measured processes

    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, HEIGHT, dtype=np.float32)[:, None, None]
    x = np.linspace(0.0, 1.0, WIDTH, dtype=np.float32)[None, :, None]
    top_left, top_right, bottom = rng.uniform(20, 235, size=(3, 3)).astype(np.float32)
    sky = top_left + (top_right - top_left) * x + (bottom - top_left) * y * (1 - 0.4 * x)
    image = Image.fromarray(sky.clip(0, 255).astype(np.uint8))

    draw = ImageDraw.Draw(image)
    for _ in range(30):
        cx, cy = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT)
        rx, ry = rng.uniform(40, 700), rng.uniform(40, 500)
        fill = tuple(int(v) for v in rng.integers(30, 226, 3))
        shape = draw.ellipse if rng.random() < 0.75 else draw.rectangle
        shape((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill)
    image = image.filter(ImageFilter.GaussianBlur(3))  # soft edges, as through a lens

    # Texture at 1/8 scale, upsampled (surfaces), plus per-pixel grain (sensor noise).
    small = rng.normal(128, 40, size=(HEIGHT // 8, WIDTH // 8)).clip(0, 255).astype(np.uint8)
    texture = Image.fromarray(small).resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)
    pixels = np.asarray(image, dtype=np.float32)
    pixels += 0.4 * (np.asarray(texture, dtype=np.float32)[..., None] - 128)
    pixels += rng.normal(0, 6, size=pixels.shape).astype(np.float32)
    photo = Image.fromarray(pixels.round().clip(0, 255).astype(np.uint8))

    buffer = BytesIO()
    photo.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


# --- the naive baseline ------------------------------------------------------


def _open_full(data: bytes) -> Image.Image:
    with Image.open(BytesIO(data)) as image:
        return image.copy()


def _fit_size(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    ratio = min(box[0] / size[0], box[1] / size[1], 1.0)
    return (max(1, round(size[0] * ratio)), max(1, round(size[1] * ratio)))


def _encode(image: Image.Image, image_format: str) -> bytes:
    buffer = BytesIO()
    image.save(buffer, format=image_format, quality=NAIVE_QUALITY[image_format])
    return buffer.getvalue()


def naive_render(data: bytes) -> list[bytes]:
    """The four renditions, each from its own full-size decode and full-size resize."""
    full = _open_full(data)
    thumbnail = full.resize(_fit_size(full.size, (150, 150)), Image.Resampling.LANCZOS)
    outputs = [_encode(thumbnail, "JPEG")]

    full = _open_full(data)
    display = full.resize(_fit_size(full.size, (800, 600)), Image.Resampling.LANCZOS)
    outputs.append(_encode(display, "JPEG"))

    full = _open_full(data)
    marked = full.resize(_fit_size(full.size, (800, 600)), Image.Resampling.LANCZOS).convert("RGBA")
    layer = Image.new("RGBA", marked.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = ImageFont.load_default(size=max(12, marked.height // 18))
    left, top, right, bottom = draw.textbbox((0, 0), "© mysite", font=font)
    margin = max(8, marked.height // 40)
    x = marked.width - (right - left) - margin - left
    y = marked.height - (bottom - top) - margin - top
    draw.text((x + 1, y + 1), "© mysite", font=font, fill=(0, 0, 0, 110))
    draw.text((x, y), "© mysite", font=font, fill=(255, 255, 255, 170))
    marked = Image.alpha_composite(marked, layer).convert("RGB")
    outputs.append(_encode(marked, "JPEG"))

    full = _open_full(data)
    webp = full.resize(_fit_size(full.size, (1600, 1600)), Image.Resampling.LANCZOS)
    outputs.append(_encode(webp, "WEBP"))
    return outputs


def ours_render(data: bytes) -> list[bytes]:
    return [rendered.data for rendered in render(data, SPECS)]


VARIANTS = {"ours": ours_render, "naive": naive_render}


# --- measuring, in a fresh process per variant -------------------------------


@dataclass
class Result:
    variant: str
    images: int
    seconds: float
    base_mib: float
    peak_mib: float
    sizes: list[list[tuple[int, int]]]  # per image, per spec: the output's pixel size


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_variant(variant: str, paths: list[str]) -> Result:
    """Runs in a fresh process: warm up on one image, then time all of them."""
    work = VARIANTS[variant]
    originals = [Path(path).read_bytes() for path in paths]
    base_mib = _max_rss_mib()
    work(originals[0])
    start = time.perf_counter()
    outputs = [work(data) for data in originals]
    seconds = time.perf_counter() - start
    peak_mib = _max_rss_mib()
    sizes = [[Image.open(BytesIO(out)).size for out in image_outputs] for image_outputs in outputs]
    return Result(variant, len(originals), seconds, base_mib, peak_mib, sizes)


def generate(directory: str, count: int) -> tuple[list[str], int]:
    """Write ``count`` photos to ``directory``; their paths and their total size in bytes."""
    paths, total_bytes = [], 0
    for index in range(count):
        data = make_photo(SEED + index)
        path = Path(directory) / f"photo-{index}.jpg"
        path.write_bytes(data)
        paths.append(str(path))
        total_bytes += len(data)
    return paths, total_bytes


def in_fresh_process(function, *args):
    """``function(*args)`` in a new interpreter (spawn), so its ``ru_maxrss`` is its own.

    The parent stays small: Linux carries a process's peak RSS across fork and exec
    into the child's ``ru_maxrss``, so a parent that had generated the photos itself
    would set every child's "peak" to its own.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8, help="originals to render (default 8)")
    args = parser.parse_args()
    if args.images < 1:
        parser.error("--images must be at least 1")

    with tempfile.TemporaryDirectory(prefix="image-bench-") as tmp:
        print(f"generating {args.images} JPEGs of {WIDTH}x{HEIGHT} ...", flush=True)
        paths, total_bytes = in_fresh_process(generate, tmp, args.images)
        print(f"average original: {total_bytes / args.images / 2**20:.2f} MiB")
        print(f"renditions: {', '.join(spec.name for spec in SPECS)}\n", flush=True)

        results = {variant: in_fresh_process(run_variant, variant, paths) for variant in VARIANTS}

    print(f"{'variant':<8} {'images/s':>9} {'s/image':>9} {'base MiB':>9} {'peak MiB':>9}")
    print("-" * 48)
    for result in results.values():
        print(
            f"{result.variant:<8} {result.images / result.seconds:>9.2f}"
            f" {result.seconds / result.images:>9.3f}"
            f" {result.base_mib:>9.1f} {result.peak_mib:>9.1f}"
        )
    ours, naive = results["ours"], results["naive"]
    print(f"\nspeedup: {naive.seconds / ours.seconds:.2f}x")

    mismatches = [
        f"image {index} {spec.name}: ours {ours_size}, naive {naive_size}"
        for index, (ours_sizes, naive_sizes) in enumerate(zip(ours.sizes, naive.sizes, strict=True))
        for spec, ours_size, naive_size in zip(SPECS, ours_sizes, naive_sizes, strict=True)
        if ours_size != naive_size
    ]
    if mismatches:
        print("note: the variants' output sizes differ, so the comparison is not like for like:")
        print("\n".join(f"  {line}" for line in mismatches))
    assert not mismatches, "output pixel sizes differ between the variants"
    first = zip(SPECS, ours.sizes[0], strict=True)
    sizes = ", ".join(f"{spec.name} {width}x{height}" for spec, (width, height) in first)
    print(f"output sizes match: {sizes}")


if __name__ == "__main__":
    main()
