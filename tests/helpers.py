"""Test helpers: the tiny random open_clip model and generated image libraries."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import zipfile
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw

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


def process_alive(pid: int) -> bool:
    """True while the process runs (a zombie, ended but not yet reaped, counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def judge_picture(data: bytes) -> tuple[str, float]:
    """What a demo-world picture shows, judged from its pixels alone: (the colour of its shape, its roundness).
    Saturated pixels are the shape (backgrounds are greys); each takes the nearest palette colour. Roundness is the
    shape's area over the circle around it (from its centre to its farthest pixel): about 0.9 for a circle, 0.64
    for a square at any rotation, less for the spikier shapes."""
    import io

    import numpy as np

    from indexer.demo.world import COLOURS

    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32)
    saturated = pixels.max(axis=2) - pixels.min(axis=2) > 60
    palette = np.array(list(COLOURS.values()), np.float32)
    nearest = np.argmin(((pixels[saturated][:, None, :] - palette[None]) ** 2).sum(axis=2), axis=1)
    main = int(np.bincount(nearest, minlength=len(palette)).argmax())
    ys, xs = np.nonzero(saturated)
    ys, xs = ys[nearest == main], xs[nearest == main]
    radius = np.percentile(np.hypot(xs - xs.mean(), ys - ys.mean()), 99)
    return list(COLOURS)[main], float(len(xs) / (np.pi * radius ** 2))


VALIDATORS = Path(__file__).resolve().parents[1] / ".venv-validators" / "bin" / "python"


def open_export(fmt: str, archive: bytes | Path, folder: Path) -> dict:
    """Unpack an exported archive into `folder` and open it with its users' tool (tests/validators/open_export.py,
    in the validators' environment that .ci/install makes): what the tool found."""
    if not VALIDATORS.exists():
        pytest.fail(f"The export validators (Datumaro, the Label Studio SDK) are not installed at {VALIDATORS}: "
                    "run .ci/install.")
    zipfile.ZipFile(io.BytesIO(archive) if isinstance(archive, bytes) else archive).extractall(folder)
    script = Path(__file__).parent / "validators" / "open_export.py"
    done = subprocess.run([str(VALIDATORS), str(script), fmt, str(folder)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"{fmt} did not open: {done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])
