"""`pixcept demo`: a sample library indexed offline with a demo model: coloured shapes, or emoji with their names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from ..config import load_settings
from ..library import Library


@click.command()
@click.argument("folder", required=False, type=click.Path(path_type=Path, file_okay=False), default="pixcept-demo")
@click.option("--world", type=click.Choice(["shapes", "emoji"]), default="shapes", show_default=True,
              help="shapes: 8 colours x 6 shapes; emoji: ~1,870 emoji with their Unicode names (needs Debian's "
                   "fonts-noto-color-emoji and unicode-data).")
@click.option("--per-pair", type=click.IntRange(1, 50), default=4, show_default=True,
              help="shapes: pictures of each colour x shape pair.")
@click.option("--per-emoji", type=click.IntRange(1, 10), default=1, show_default=True,
              help="emoji: pictures of each emoji.")
def demo(folder: Path, world: str, per_pair: int, per_emoji: int) -> None:
    """Try pixcept offline: draw a sample library in FOLDER and index it with a demo model trained on that world.

    The shapes model knows 8 colours and 6 shapes, nothing else. The emoji model knows the emoji's names and
    Unicode's groups and subgroups ("dog face, an animal, a mammal"); concepts are labelled from pixcept's default
    vocabulary.
    """
    from ..index import index_folders
    from ..vocab import add_entries

    photos, data_dir = folder / "photos", folder / "data"
    if world == "emoji":
        drawn = _draw_emoji(photos, per_emoji)
    else:
        drawn = _draw_shapes(photos, per_pair)
    settings = load_settings({"data_dir": data_dir, "model": drawn.model})  # the rest as set
    with Library.open(settings, command="pixcept demo") as library:
        summary = index_folders(library, [photos])
        add_entries(library, drawn.vocabulary, drawn.vocabulary_source, drawn.vocabulary_version)
    env = f"PIXCEPT_DATA_DIR={data_dir}"
    tries = "".join(f"  {env} pixcept {line}\n" for line in (*drawn.tries, f"search --image {drawn.sample}", "status"))
    click.echo(f"{summary.describe()}.\n\nTry next:\n{tries.rstrip()}")


@dataclass(frozen=True)
class _Drawn:
    """A drawn world: the model and words to index it with, a sample picture and commands to try."""

    model: str
    vocabulary: list[str]
    vocabulary_source: str
    vocabulary_version: str
    sample: Path
    tries: tuple[str, ...]


def _draw_shapes(photos: Path, per_pair: int) -> _Drawn:
    from ..demo import demo_model_spec, demo_vocabulary
    from ..demo.world import write_library

    click.echo(f"Drawing {per_pair * 48} pictures into {photos}...", err=True)
    written = write_library(photos, per_pair=per_pair)
    return _Drawn(demo_model_spec(), demo_vocabulary(), "demo", "demo-1", next(iter(written)),
                  ("search red circle", "search star -yellow"))


def _draw_emoji(photos: Path, per_emoji: int) -> _Drawn:
    from ..demo import emoji_model_spec
    from ..demo.emoji import MissingWorldData, load_emoji, require_data, write_library
    from ..vocab import DEFAULT_SOURCE
    from ..words import default_vocabulary

    try:
        require_data()
    except MissingWorldData as error:
        raise click.ClickException(f"{error}.") from None
    count = len(load_emoji()) * per_emoji
    click.echo(f"Drawing {count} emoji pictures into {photos}...", err=True)
    written = write_library(photos, per_emoji=per_emoji)
    version, words = default_vocabulary()
    return _Drawn(emoji_model_spec(), words, DEFAULT_SOURCE, version, next(iter(written)),
                  ("search dog", "search fruit", "cluster", "concepts"))
