"""pixcept's demo worlds: generated pictures of coloured shapes, or of emoji, and a tiny CLIP trained on each.

`pixcept demo` uses it so a newcomer can try the whole product offline; the tests use it to check meaning, not just
plumbing (a random model would pass a test that labels concepts with the wrong words).
"""

from __future__ import annotations

from pathlib import Path

from .world import BACKGROUNDS, COLOURS, SHAPES, SIZES

MODEL_DIR = Path(__file__).with_name("model")
EMOJI_MODEL_DIR = Path(__file__).with_name("emoji_model")


def demo_model_spec() -> str:
    """The trained demo checkpoint, as a model spec pixcept loads like any other."""
    return f"local-dir:{MODEL_DIR}"


def emoji_model_spec() -> str:
    """The trained emoji checkpoint (`indexer.demo.train_emoji`)."""
    return f"local-dir:{EMOJI_MODEL_DIR}"


def demo_vocabulary() -> list[str]:
    """The words the demo model was trained on: colours, shapes, sizes, backgrounds, and their pairs."""
    words = [*COLOURS, *SHAPES, *SIZES, *(f"{b} background" for b in BACKGROUNDS)]
    return words + [f"{colour} {shape}" for colour in COLOURS for shape in SHAPES]
