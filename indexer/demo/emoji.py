"""The emoji world: real drawings of real things with their Unicode names, as a second demo world.

The pictures are drawn at demo time from Debian's colour emoji font (`fonts-noto-color-emoji`), and the names, groups
and subgroups come from Unicode's `emoji-test.txt` (`unicode-data`): a ground truth nobody here wrote. Each picture is
drawn as a photo might show it: varied size, place, background and a slight turn, saved as JPEG. Skin-tone variants
and the Component group (bare skin tones and hair styles) are left out: 1,870 emoji in 9 groups and 99 subgroups.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .world import BACKGROUNDS, background

EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")
EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
# CLDR's English keywords ("poodle": dog, poodle), read only to train the emoji model (`unicode-cldr-core`).
CLDR_ANNOTATIONS = Path("/usr/share/unicode/cldr/common")
FONT_SIZE = 109  # the only size the bitmap font has; glyphs are scaled afterwards
LEFT_OUT_GROUPS = {"Component"}
# Every emoji that is a dog (issue 23: "dog" finds them before anything else); the poodle is one by its looks and
# CLDR's keyword, not by its name
DOGS = frozenset({"dog face", "dog", "guide dog", "service dog", "poodle"})

# Unicode's group names as words a person would use of one of its emoji ("Animals & Nature": an animal, nature).
_GROUP_WORDS = {"Smileys & Emotion": ("smiley", "emotion"), "People & Body": ("person", "body"),
                "Animals & Nature": ("animal", "nature"), "Food & Drink": ("food", "drink"),
                "Travel & Places": ("travel", "place"), "Activities": ("activity",), "Objects": ("object",),
                "Symbols": ("symbol",), "Flags": ("flag",)}


class MissingWorldData(RuntimeError):
    """The emoji font or Unicode's emoji list is not installed."""


def words_of(text: str) -> list[str]:
    """The words of a name or phrase, lower case, without punctuation."""
    return re.findall(r"[a-z]+", text.lower())


@dataclass(frozen=True)
class Emoji:
    char: str
    name: str
    group: str
    subgroup: str

    @property
    def slug(self) -> str:
        name = self.name.lower().replace("#", " hash").replace("*", " asterisk")  # keycap: # and keycap: *
        return re.sub(r"[^a-z0-9]+", "-", name).strip("-")

    @property
    def name_words(self) -> list[str]:
        """The words of its Unicode name, lower case: "flag: Japan" -> ["flag", "japan"]."""
        return words_of(self.name)

    @property
    def group_words(self) -> tuple[str, ...]:
        return _GROUP_WORDS.get(self.group, ())

    @property
    def subgroup_words(self) -> tuple[str, ...]:
        """The subgroup's words in plain English: "animal-mammal" -> ("animal", "mammal")."""
        return tuple(word for word in self.subgroup.split("-") if word not in {"other", "symbol", "sign"}) or (
            self.subgroup.replace("-", " "),)


def require_data() -> None:
    """Say which Debian package to install when the font or the emoji list is missing."""
    missing = [f"{path} (apt install {package})" for path, package in
               ((EMOJI_FONT, "fonts-noto-color-emoji"), (EMOJI_TEST, "unicode-data")) if not path.is_file()]
    if missing:
        raise MissingWorldData("the emoji world needs " + " and ".join(missing))


@cache
def load_emoji() -> tuple[Emoji, ...]:
    """Every fully-qualified emoji of emoji-test.txt without skin-tone variants, in Unicode's order."""
    require_data()
    found: list[Emoji] = []
    group = subgroup = ""
    for line in EMOJI_TEST.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif "; fully-qualified" in line and group not in LEFT_OUT_GROUPS:
            char, name = re.match(r".*?# (\S+) E\d+\.\d+ (.+)$", line).groups()  # type: ignore[union-attr]
            if "skin tone" not in name:
                found.append(Emoji(char, name, group, subgroup))
    return tuple(found)


@cache
def keywords() -> dict[str, tuple[str, ...]]:
    """CLDR's English keywords of every emoji that has them, by character, lower case: the words people use of it that
    its name may lack ("poodle": dog, poodle). Sequences (flags, families) are in the derived annotations."""
    import xml.etree.ElementTree as ElementTree

    files = [CLDR_ANNOTATIONS / folder / "en.xml" for folder in ("annotations", "annotationsDerived")]
    if not all(path.is_file() for path in files):
        raise MissingWorldData(f"the emoji model's training needs {files[0]} (apt install unicode-cldr-core)")
    found: dict[str, tuple[str, ...]] = {}
    for path in files:
        for note in ElementTree.parse(path).iter("annotation"):
            if note.get("type") != "tts" and note.text:
                found.setdefault(note.get("cp", ""), tuple(w.strip().lower() for w in note.text.split("|")))
    return {e.char: found.get(e.char) or found.get(e.char.replace("\ufe0f", ""), ()) for e in load_emoji()}


@cache
def _by_slug() -> dict[str, Emoji]:
    return {emoji.slug: emoji for emoji in load_emoji()}


# -- drawing -----------------------------------------------------------------------------------------------------------

@cache
def _font() -> ImageFont.FreeTypeFont:
    require_data()
    return ImageFont.truetype(str(EMOJI_FONT), FONT_SIZE)


@cache
def glyph(char: str) -> Image.Image:
    """The emoji drawn once at the font's size, cropped to its ink (RGBA)."""
    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((8, 8), char, font=_font(), embedded_color=True)
    box = canvas.getbbox()
    return canvas.crop(box) if box else canvas


def render(emoji: Emoji, seed: int, size: int = 128) -> Image.Image:
    """The emoji as a photo might show it: 40-80 % of the side, off centre, turned up to 15 degrees."""
    rng = random.Random(seed)
    image = background(rng.choice(BACKGROUNDS), size, rng)
    drawing = glyph(emoji.char)
    scale = rng.uniform(0.4, 0.8) * size / max(drawing.size)
    drawing = drawing.resize((max(1, round(drawing.width * scale)), max(1, round(drawing.height * scale))),
                             Image.Resampling.LANCZOS)
    drawing = drawing.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BICUBIC, expand=True)
    x = rng.randint(0, max(0, size - drawing.width))
    y = rng.randint(0, max(0, size - drawing.height))
    image.paste(drawing, (x, y), drawing)
    return image


# -- sample libraries --------------------------------------------------------------------------------------------------

def write_library(folder: Path, per_emoji: int = 1, seed: int = 0, size: int = 192,
                  emoji: tuple[Emoji, ...] | None = None) -> dict[Path, Emoji]:
    """Render every emoji `per_emoji` times as JPEGs named SUBGROUP_NAME_N.jpg, with labels.csv beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    written: dict[Path, Emoji] = {}
    for item in emoji or load_emoji():
        for n in range(1, per_emoji + 1):
            path = folder / f"{item.subgroup}_{item.slug}_{n}.jpg"
            render(item, rng.randrange(2**31), size).save(path, "JPEG", quality=rng.randint(80, 95))
            written[path] = item
    with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as labels:
        table = csv.writer(labels)
        table.writerow(["file", "name", "group", "subgroup"])
        table.writerows([p.name, e.name, e.group, e.subgroup] for p, e in written.items())
    return written


def emoji_of(path: str) -> Emoji:
    """The emoji a picture of `write_library` shows, from its file name."""
    return _by_slug()[Path(path).stem.split("_")[1]]
