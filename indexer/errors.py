"""Errors that pixcept reports to people as a message, never as a stack trace."""


class PixceptError(Exception):
    """A problem the user can act on; its message says what happened and what to do."""

    exit_code = 1


class UsageError(PixceptError):
    """The command was asked for something that cannot be done as asked (missing folder, bad query)."""

    exit_code = 2


class NotFoundError(PixceptError):
    """Something asked for by ID (an image, a job) does not exist."""

    exit_code = 2


class ConflictError(PixceptError):
    """The change clashes with what exists (a selection of that name)."""

    exit_code = 2
