"""`python -m indexer.cli`, as the `pixcept` command."""

from . import main

main()
