"""The `pixcept` command line: one module per area, each defining its commands; this package assembles them.

Area modules import only `common` (options, settings, progress, running a job here or through a server) and the
library below them, never this module: the commands register here, by `add_command`, so no import goes back up.
"""

from __future__ import annotations

import logging

import click

from . import accounts, backup, concepts, demo, exports, index, jobs, migrate, search, selections, serve, settings
from .common import PixceptGroup

COMMANDS = (index.index, index.remove_folder, index.thumbnails, index.vocab, search.search, search.filters,
            concepts.cluster, concepts.concepts, selections.selections, exports.export, exports.export_tokens,
            jobs.status, jobs.check, jobs.jobs, serve.serve, settings.settings, migrate.migrate, backup.backup,
            backup.restore, accounts.tokens, demo.demo)


@click.group(cls=PixceptGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
@click.version_option(package_name="pixcept")
def cli(verbose: bool) -> None:
    """pixcept: semantic image search with concepts, self-hosted."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        # open_clip logs download failures on the root logger; pixcept reports them itself, with advice.
        logging.getLogger().addFilter(lambda record: record.name != "root")


for command in COMMANDS:
    cli.add_command(command)


def main() -> None:
    cli(prog_name="pixcept")
