"""Test helpers: the tiny random open_clip model and generated image libraries."""

from __future__ import annotations

import json
import random

import httpx
from pathlib import Path

from PIL import Image, ImageDraw

TINY_CFG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "head_width": 32, "patch_size": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
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
