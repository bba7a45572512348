"""The demo world's truth, for judging concepts and their headings in tests and benchmarks: every picture's colour
and shape are in its file name (colour_shape_NN.jpg)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .world import COLOURS, SHAPES

FACETS = ("pair", "colour", "shape")


def kind_of(path: str) -> tuple[str, str]:
    """(colour, shape) of a demo picture, from its file name."""
    colour, shape = Path(path).name.split("_")[:2]
    return colour, shape


def purity(kinds: list[tuple[str, str]]) -> float:
    """The share of a group of pictures in its largest class, the best of colour + shape, colour or shape."""
    shares = []
    for facet in FACETS:
        values = [k if facet == "pair" else k[0] if facet == "colour" else k[1] for k in kinds]
        shares.append(Counter(values).most_common(1)[0][1] / len(values))
    return max(shares)


def label_true(label: str, kinds: list[tuple[str, str]]) -> bool:
    """Every word of the label is a colour or shape at least half of the pictures have."""
    words = label.split()
    if not words:
        return False
    for word in words:
        if word in COLOURS:
            held = sum(colour == word for colour, _ in kinds)
        elif word in SHAPES:
            held = sum(shape == word for _, shape in kinds)
        else:
            return False
        if held < len(kinds) / 2:
            return False
    return True


def heading_true(record: dict, kinds: list[tuple[str, str]]) -> bool:
    """A concept's or group's heading is right when its first word is true of most of the pictures, or when it says
    "mixed" and no colour or shape is."""
    from ..concepts.publish import heading_words

    first = heading_words(record)[:1]
    if first == ["mixed"]:
        return max(Counter(k[0] for k in kinds).most_common(1)[0][1],
                   Counter(k[1] for k in kinds).most_common(1)[0][1]) < len(kinds) / 2
    return bool(first) and label_true(first[0], kinds)
