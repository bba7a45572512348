"""A small closed world of captioned pictures: coloured shapes of several sizes on several backgrounds.

Seeded and deterministic. It trains the demo CLIP (`indexer.demo.train`), makes `pixcept demo`'s sample library, and
gives tests ground truth to check meaning against (a search for "red circle" must find red circles).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "orange": (245, 135, 20),
    "yellow": (240, 215, 30),
    "green": (40, 160, 60),
    "blue": (35, 75, 215),
    "purple": (130, 45, 175),
    "pink": (245, 125, 190),
    "brown": (115, 70, 30),
}
SHAPES = ("circle", "square", "triangle", "star", "cross", "crescent")
SIZES = {"small": (0.14, 0.20), "medium": (0.22, 0.29), "large": (0.31, 0.40)}  # radius / image side
BACKGROUNDS = ("white", "grey", "dark", "gradient", "noise")


@dataclass(frozen=True)
class Thing:
    colour: str
    shape: str
    size: str


@dataclass(frozen=True)
class Scene:
    things: tuple[Thing, ...]
    background: str
    seed: int  # placement, rotation, jitter

    @property
    def main(self) -> Thing:
        return self.things[0]


def random_scene(rng: random.Random, two_object_share: float = 0.25) -> Scene:
    count = 2 if rng.random() < two_object_share else 1
    things = []
    for _ in range(count):
        size = rng.choice(["small", "medium"]) if count == 2 else rng.choice(list(SIZES))
        things.append(Thing(rng.choice(list(COLOURS)), rng.choice(SHAPES), size))
    return Scene(tuple(things), rng.choice(BACKGROUNDS), rng.randrange(2**31))


# -- drawing -----------------------------------------------------------------------------------------------------------

def render(scene: Scene, size: int = 128) -> Image.Image:
    rng = random.Random(scene.seed)
    image = background(scene.background, size, rng)
    slots = _slots(len(scene.things), rng)
    for thing, (cx, cy) in zip(scene.things, slots):
        low, high = SIZES[thing.size]
        radius = rng.uniform(low, high) * size
        mask = Image.new("L", (size, size), 0)
        _draw_shape(ImageDraw.Draw(mask), thing.shape, cx * size, cy * size, radius, rng.uniform(0, 2 * math.pi))
        colour = tuple(max(0, min(255, c + rng.randint(-18, 18))) for c in COLOURS[thing.colour])
        image.paste(Image.new("RGB", (size, size), colour), (0, 0), mask)
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    return image


def _slots(count: int, rng: random.Random) -> list[tuple[float, float]]:
    if count == 1:
        return [(rng.uniform(0.4, 0.6), rng.uniform(0.4, 0.6))]
    if rng.random() < 0.5:
        return [(0.27, rng.uniform(0.3, 0.7)), (0.73, rng.uniform(0.3, 0.7))]
    return [(rng.uniform(0.3, 0.7), 0.27), (rng.uniform(0.3, 0.7), 0.73)]


def background(kind: str, size: int, rng: random.Random) -> Image.Image:
    if kind == "white":
        return Image.new("RGB", (size, size), tuple([rng.randint(225, 255)] * 3))
    if kind == "grey":
        return Image.new("RGB", (size, size), tuple([rng.randint(120, 175)] * 3))
    if kind == "dark":
        return Image.new("RGB", (size, size), tuple([rng.randint(10, 55)] * 3))
    if kind == "gradient":
        start, end = rng.randint(30, 120), rng.randint(150, 250)
        ramp = Image.linear_gradient("L").resize((size, size)).point(lambda v: start + (end - start) * v // 255)
        return ramp.rotate(rng.choice([0, 90, 180, 270])).convert("RGB")
    # Seeded noise (Pillow's effect_noise draws from an unseeded global generator).
    grey, sigma = rng.randint(90, 200), rng.uniform(15, 40)
    noise = np.random.default_rng(rng.randrange(2**32)).normal(grey, sigma, (size, size))
    return Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8), "L").convert("RGB")


def _polygon(cx: float, cy: float, radii: list[float], turn: float) -> list[tuple[float, float]]:
    n = len(radii)
    return [(cx + r * math.cos(turn + 2 * math.pi * i / n), cy + r * math.sin(turn + 2 * math.pi * i / n))
            for i, r in enumerate(radii)]


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, turn: float) -> None:
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    elif shape == "square":
        draw.polygon(_polygon(cx, cy, [r * 0.95] * 4, turn), fill=255)
    elif shape == "triangle":
        draw.polygon(_polygon(cx, cy, [r * 1.05] * 3, turn), fill=255)
    elif shape == "star":
        draw.polygon(_polygon(cx, cy, [r * 1.1, r * 0.45] * 5, turn), fill=255)
    elif shape == "cross":
        arm = r * 0.36
        corners = [(arm, r), (-arm, r), (-arm, arm), (-r, arm), (-r, -arm), (-arm, -arm), (-arm, -r), (arm, -r),
                   (arm, -arm), (r, -arm), (r, arm), (arm, arm)]
        cos, sin = math.cos(turn), math.sin(turn)
        draw.polygon([(cx + x * cos - y * sin, cy + x * sin + y * cos) for x, y in corners], fill=255)
    elif shape == "crescent":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        ox, oy = cx + 0.45 * r * math.cos(turn), cy + 0.45 * r * math.sin(turn)
        draw.ellipse([ox - 0.85 * r, oy - 0.85 * r, ox + 0.85 * r, oy + 0.85 * r], fill=0)
    else:
        raise ValueError(f"unknown shape {shape!r}")


# -- captions ----------------------------------------------------------------------------------------------------------

_FULL = ("a {c} {s}", "a photo of a {c} {s}", "a {c} {s}.", "a picture of a {c} {s}", "{c} {s}", "the {c} {s}",
         "a {z} {c} {s}", "a {c} {s} on a {b} background", "a {z} {c} {s} on a {b} background")
_COLOUR_ONLY = ("{c}", "something {c}", "a {c} thing", "a {c} object", "a photo of something {c}")
_SHAPE_ONLY = ("a {s}", "a photo of a {s}", "{s}", "a {z} {s}", "a {s} shape")
_BACKGROUND_WORDS = {"white": "white", "grey": "grey", "dark": "dark", "gradient": "gradient", "noise": "noisy"}


def caption(scene: Scene, rng: random.Random) -> str:
    """A varied caption that is true of the scene: full, colour-only or shape-only; both things for two."""
    if len(scene.things) == 2:
        a, b = scene.things
        return rng.choice(["a {} {} and a {} {}", "{} {} and {} {}", "a photo of a {} {} and a {} {}"]).format(
            a.colour, a.shape, b.colour, b.shape)
    thing = scene.main
    roll = rng.random()
    templates = _FULL if roll < 0.6 else _COLOUR_ONLY if roll < 0.8 else _SHAPE_ONLY
    return rng.choice(templates).format(c=thing.colour, s=thing.shape, z=thing.size,
                                        b=_BACKGROUND_WORDS[scene.background])


# -- sample libraries --------------------------------------------------------------------------------------------------

def grid_scenes(per_pair: int, seed: int = 0) -> list[Scene]:
    """`per_pair` single-object scenes of every colour x shape pair, with varied sizes and backgrounds."""
    rng = random.Random(seed)
    return [Scene((Thing(colour, shape, rng.choice(list(SIZES))),), rng.choice(BACKGROUNDS), rng.randrange(2**31))
            for colour in COLOURS for shape in SHAPES for _ in range(per_pair)]


def write_library(folder: Path, per_pair: int = 3, seed: int = 0, size: int = 192) -> dict[Path, Scene]:
    """Render a sample library as JPEGs named colour_shape_NN.jpg, with labels.csv beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[Path, Scene] = {}
    counters: dict[tuple[str, str], int] = {}
    for scene in grid_scenes(per_pair, seed):
        key = (scene.main.colour, scene.main.shape)
        counters[key] = counters.get(key, 0) + 1
        path = folder / f"{key[0]}_{key[1]}_{counters[key]:02d}.jpg"
        render(scene, size).save(path, "JPEG", quality=92)
        written[path] = scene
    lines = ["file,colour,shape,size,background"] + [
        f"{p.name},{s.main.colour},{s.main.shape},{s.main.size},{s.background}" for p, s in written.items()]
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return written
