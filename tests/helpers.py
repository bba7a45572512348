"""Test helpers: the tiny random open_clip model and generated image libraries."""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

TINY_CFG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "head_width": 32, "patch_size": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
# Colours of the demo world that lie next to each other (hue, or brown beside its lighter and redder kin): a concept
# of mostly one colour may also hold some of a neighbour's pictures.
NEIGHBOUR_COLOURS = {frozenset(pair) for pair in (("red", "orange"), ("orange", "yellow"), ("yellow", "green"),
                                                  ("green", "blue"), ("blue", "purple"), ("purple", "pink"),
                                                  ("pink", "red"), ("brown", "orange"), ("brown", "red"))}


def fit_seed(default: int) -> int:
    """The seed of a test's concept fit: PIXCEPT_TEST_SEED when set (bench/seed_sweep.py varies it), else `default`.
    A seeded fit is reproducible only on one CPU and BLAS build, so the tests assert properties any fit has."""
    return int(os.environ.get("PIXCEPT_TEST_SEED") or default)


def colour_purity(counts: dict[str, int]) -> tuple[float, set[str]]:
    """(share of the largest colour and of its most frequent neighbour, the colours holding >= 20 %) of a concept's
    members counted by colour: a concept is pure in colour when it is one colour, or two neighbouring ones."""
    total = sum(counts.values())
    first = max(counts, key=counts.get)
    neighbour = max((counts[c] for c in counts if frozenset((first, c)) in NEIGHBOUR_COLOURS), default=0)
    return (counts[first] + neighbour) / total, {c for c, n in counts.items() if n / total >= 0.2}


CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def write_tiny_model(folder: Path, seed: int = 0) -> Path:
    """A randomly initialised open_clip CLIP in open_clip's local-dir format (loaded like any real checkpoint)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_CFG)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": TINY_CFG, "preprocess_cfg": {"mean": CLIP_MEAN, "std": CLIP_STD}}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder


COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (30, 60, 220), "yellow": (240, 220, 40)}


def make_image(path: Path, colour: str = "red", size=(320, 240), seed: int = 0, fmt: str | None = None,
               mode: str = "RGB", exif=None) -> Path:
    """A picture of a coloured disc on a random pale background; distinct per seed."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randint(180, 255) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    w, h = size
    r = min(w, h) // 3
    cx, cy = rng.randint(r, w - r), rng.randint(r, h - r)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=COLOURS[colour])
    for _ in range(5):
        x, y = rng.randint(0, w - 1), rng.randint(0, h - 1)
        draw.rectangle([x, y, x + 8, y + 8], fill=tuple(rng.randint(0, 255) for _ in range(3)))
    if mode != "RGB":
        image = image.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"exif": exif} if exif is not None else {}
    image.save(path, fmt, **kwargs)
    return path


def make_library(root: Path, count: int = 12, offset: int = 0) -> list[Path]:
    colours = list(COLOURS)
    paths = []
    for i in range(offset, offset + count):
        colour = colours[i % len(colours)]
        paths.append(make_image(root / colour / f"img_{i:03d}.jpg", colour, seed=i))
    return paths


class FakeQdrantServer:
    """Answers qdrant-client's HTTP calls at the transport level, keeping every request and the upserted point IDs,
    to check what a real server would be sent (no Qdrant server can run on the build machines)."""

    def __init__(self, status: int = 200):
        self.requests: list[httpx.Request] = []
        self.status = status
        self.points: dict[str, set] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status != 200:
            return httpx.Response(self.status, json={"status": {"error": "forbidden"}, "time": 0})
        path = request.url.path
        name = path.split("/")[2] if path.startswith("/collections/") else ""
        if path.endswith("/exists"):
            return self._ok({"exists": name in self.points})
        if request.method == "PUT" and path == f"/collections/{name}":
            self.points[name] = set()
            return self._ok(True)
        if request.method == "PUT" and path.endswith("/points"):
            self.points[name].update(p["id"] for p in json.loads(request.content)["points"])
            return self._ok({"operation_id": 1, "status": "completed"})
        if path.endswith("/points/count"):
            return self._ok({"count": len(self.points.get(name, ()))})
        if path.endswith("/index"):
            return self._ok({"operation_id": 1, "status": "completed"})
        return self._ok(True)

    @staticmethod
    def _ok(result) -> httpx.Response:
        return httpx.Response(200, json={"result": result, "status": "ok", "time": 0})

    def bodies(self, method: str, suffix: str) -> list[dict]:
        return [json.loads(r.content) for r in self.requests if r.method == method and r.url.path.endswith(suffix)]


# -- hostile files -----------------------------------------------------------------------------------------------------

def _png(width: int, height: int, colour_type: int, idat: bytes) -> bytes:
    """A PNG from its header fields and compressed pixel data, written chunk by chunk (no decoder involved)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def png_claiming(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose header claims `width` x `height` (a classic decompression bomb)."""
    import zlib

    return _png(width, height, 2, zlib.compress(b"\0" * 64))


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) is rewritten to claim `width` x `height`."""
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 7] = height.to_bytes(2, "big")
    data[sof + 7:sof + 9] = width.to_bytes(2, "big")
    return bytes(data)


def bmp_claiming(width: int, height: int) -> bytes:
    """A 54-byte BMP header claiming `width` x `height` 24-bit pixels, with no pixels behind it."""
    import struct

    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0,
                                                                     2835, 2835, 0, 0)


def real_png_bomb(width: int, height: int) -> bytes:
    """A valid greyscale PNG of `width` x `height` zeros: small on disk, huge decoded."""
    import zlib

    compressor = zlib.compressobj(6)
    row = b"\0" * (width + 1)
    return _png(width, height, 0, b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush())


def write_hostile_corpus(folder: Path) -> dict[str, str]:
    """Files a careless or hostile user can put in a photo folder, with a pattern of the reason each must be
    reported with. None of them may cost more memory than an ordinary photo."""
    import os

    folder.mkdir(parents=True, exist_ok=True)
    expected = {}

    def put(name: str, data: bytes, reason: str) -> None:
        (folder / name).write_bytes(data)
        expected[str(folder / name)] = reason

    put("png-claims-100000x100000.png", png_claiming(100_000, 100_000), "decompression bomb")
    put("png-20000x20000-zeros.png", real_png_bomb(20_000, 20_000), "decompression bomb")
    put("jpeg-claims-65500x65500.jpg", jpeg_claiming(65_500, 65_500), "decompression bomb")
    put("jpeg-claims-12000x12000.jpg", jpeg_claiming(12_000, 12_000), "decompression bomb")
    put("bmp-claims-60000x60000.bmp", bmp_claiming(60_000, 60_000), "decompression bomb")
    put("strip-100000x1.png", png_claiming(100_000, 1), "extreme aspect ratio")
    put("empty.jpg", b"", "empty file")
    put("text.png", b"hello, not an image\n", "not an image")
    junk = folder / "junk-1GB.jpg"
    with open(junk, "wb") as out:
        out.truncate(1 << 30)  # sparse: a gigabyte that takes no disk
    expected[str(junk)] = "file too large for JPEG"
    forged = "forged\tname\nwith a newline.jpg"
    put(forged, b"\xff\xd8\xff\xe0 not really", "corrupt|truncated|not an image")
    put(os.fsdecode(b"latin1-caf\xe9.png"), b"not a png either", "not an image")
    return expected


PEAK_MARK = "pixcept-peak-rss-mb="
_MEASURED_CLI = f"""
import atexit, runpy, sys, threading, time

peak_anon = [0]

def status():
    return dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)

def sample():
    while True:
        peak_anon[0] = max(peak_anon[0], int(status()["RssAnon"].split()[0]))
        time.sleep(0.1)

def report():
    sys.stderr.write("\\n{PEAK_MARK}%.1f %.1f\\n" % (int(status()["VmHWM"].split()[0]) / 1024, peak_anon[0] / 1024))

threading.Thread(target=sample, daemon=True).start()
atexit.register(report)
sys.argv = ["pixcept", *sys.argv[1:]]
runpy.run_module("indexer.cli", run_name="__main__")
"""


@dataclass
class Measured:
    code: int
    out: str
    err: str
    peak_mb: float  # VmHWM: everything resident at the peak, memory-mapped store files included
    peak_anon_mb: float  # the process's own allocations at their peak (sampled every 0.1 s)


def run_cli_measured(args: list, env: dict, cwd: Path) -> Measured:
    """The pixcept CLI in a fresh process, with its own peak memory (read by the process itself: ru_maxrss would
    start from the parent's peak, carried over fork and exec)."""
    import os
    import subprocess
    import sys

    process = subprocess.run([sys.executable, "-c", _MEASURED_CLI, *map(str, args)], cwd=cwd,
                             env={**os.environ, **env}, capture_output=True, text=True, errors="replace")
    err, _, peaks = process.stderr.rpartition(PEAK_MARK)
    peak, anon = (float(v) for v in peaks.split()) if peaks else (float("nan"), float("nan"))
    return Measured(process.returncode, process.stdout, err.rstrip("\n"), peak, anon)
