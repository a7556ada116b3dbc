"""Exceptions of bizcase: one family, turned into one-line messages and exit code 2 by the CLI."""


class BizcaseError(Exception):
    """Base class of every error bizcase raises on purpose."""


class AssumptionError(BizcaseError):
    """An assumptions file, scenario or override is invalid."""


class OutputError(BizcaseError):
    """An output folder or file cannot be written; nothing was replaced."""
