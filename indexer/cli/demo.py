"""`pixcept demo`: a sample library of coloured shapes, indexed offline with the demo model."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import load_settings
from ..library import Library


@click.command()
@click.argument("folder", required=False, type=click.Path(path_type=Path, file_okay=False), default="pixcept-demo")
@click.option("--per-pair", type=click.IntRange(1, 50), default=4, show_default=True,
              help="Pictures of each colour x shape pair.")
def demo(folder: Path, per_pair: int) -> None:
    """Try pixcept offline: generate a sample library of coloured shapes in FOLDER and index it with the demo model.

    The demo model is a tiny CLIP trained on this closed world only: it knows 8 colours and 6 shapes, nothing else.
    """
    from ..demo import demo_model_spec, demo_vocabulary
    from ..demo.world import write_library
    from ..index import index_folders
    from ..vocab import add_entries

    photos, data_dir = folder / "photos", folder / "data"
    click.echo(f"Drawing {per_pair * 48} pictures into {photos}...", err=True)
    written = write_library(photos, per_pair=per_pair)
    settings = load_settings({"data_dir": data_dir, "model": demo_model_spec()})  # the rest as set
    with Library.open(settings, command="pixcept demo") as library:
        summary = index_folders(library, [photos])
        add_entries(library, demo_vocabulary(), "demo", "demo-1")
    sample = next(iter(written))
    env = f"PIXCEPT_DATA_DIR={data_dir}"
    click.echo(f"{summary.describe()}.\n\nTry next:\n"
               f"  {env} pixcept search red circle\n"
               f"  {env} pixcept search star -yellow\n"
               f"  {env} pixcept search --image {sample}\n"
               f"  {env} pixcept status")

