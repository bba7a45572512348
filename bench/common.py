"""Shared pieces of pixcept's benchmarks: a random-weight ViT-B-32 checkpoint, generated photos, and the demo worlds
as indexed libraries."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_photos(folder: Path, count: int, size: tuple[int, int], seed: int = 0) -> list[Path]:
    """JPEGs that compress like photos (smooth regions, edges, sensor-like noise), quality 90."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = folder / f"photo_{i:04d}.jpg"
        paths.append(path)
        if path.exists():
            continue
        small = Image.new("RGB", (size[0] // 8, size[1] // 8), tuple(int(v) for v in rng.integers(0, 255, 3)))
        draw = ImageDraw.Draw(small)
        for _ in range(12):
            x, y = rng.integers(0, small.width), rng.integers(0, small.height)
            r = int(rng.integers(10, max(11, small.width // 3)))
            draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
        image = small.filter(ImageFilter.GaussianBlur(3)).resize(size, Image.Resampling.BILINEAR)
        noise = rng.normal(0, 6, (size[1], size[0], 1)).astype(np.int16)
        pixels = np.clip(np.asarray(image, np.int16) + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path, "JPEG", quality=90)
    return paths


def synthetic_image_points(vectors: np.ndarray, start: int = 0) -> list:
    """Image points as `pixcept index` writes them (payload of a 12 MP JPEG at a path of its own), for the given
    vectors; IDs and content hashes from `start` on."""
    from indexer.store import Point, files_payload, point_id

    points = []
    for i, vector in enumerate(vectors, start):
        sha = f"{i:064x}"
        path = f"/photos/bench/{i // 1000:04d}/img_{i:07d}.jpg"
        payload = {"sha256": sha, "width": 4000, "height": 3000, "format": "JPEG", "size": 3_000_000,
                   **files_payload({path: {"size": 3_000_000, "mtime": 0.0}})}
        points.append(Point(point_id(sha), payload, np.asarray(vector, np.float32)))
    return points


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would carry a parent's peak over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns), "  ".join("-" * widths[c] for c in columns)]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def build_world(folder: Path, world: str, size: int, model: str | None = None, seed: int = 0,
                vocabulary: bool = True) -> Path:
    """A demo world as `pixcept demo` makes it: its pictures in FOLDER/photos (shapes: `size` per colour x shape;
    emoji: `size` per emoji, drawn with `seed`), indexed with its demo model (or `model`) and, unless `vocabulary` is
    false (a benchmark that only searches pictures), its vocabulary (shapes: the demo model's words; emoji: pixcept's
    default vocabulary) into FOLDER/data, which is returned."""
    from indexer.config import Settings
    from indexer.demo import demo_model_spec, demo_vocabulary, emoji, emoji_model_spec
    from indexer.demo import world as shapes
    from indexer.index import index_folders
    from indexer.library import Library
    from indexer.vocab import DEFAULT_SOURCE, add_entries
    from indexer.words import default_vocabulary

    if world == "emoji":
        emoji.write_library(folder / "photos", per_emoji=size, seed=seed)
        shipped, (version, words), source = emoji_model_spec(), default_vocabulary(), DEFAULT_SOURCE
    else:
        shapes.write_library(folder / "photos", per_pair=size)
        shipped, (version, words), source = demo_model_spec(), ("demo-1", demo_vocabulary()), "demo"
    with Library.open(Settings(data_dir=folder / "data", model=model or shipped, device="cpu")) as library:
        index_folders(library, [folder / "photos"])
        if vocabulary:
            add_entries(library, words, source, version)
    return folder / "data"
