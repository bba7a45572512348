"""How long-running work reports how far it is, to whoever shows it (the CLI's progress bar, later the server)."""


class Cancelled(Exception):
    """Raised by a progress reporter when the person asked the run to stop; work finished so far is kept."""


class Progress:
    """Where a run reports how far it is; the CLI and the server subclass it. Does nothing by default."""

    def start(self, total: int, done: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def note(self, text: str) -> None:
        """A stage worth telling the person about."""
