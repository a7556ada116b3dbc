"""Exceptions of bizcase: one family, turned into one-line messages and exit code 2 by the CLI."""


class BizcaseError(Exception):
    """Base class of every error bizcase raises on purpose."""


class AssumptionError(BizcaseError):
    """An assumptions file, scenario or override is invalid."""

    @classmethod
    def raise_if_any(cls, problems: list[str], file: str) -> None:
        """Raise one error listing every problem of ``file`` ("key = value: rule" each)."""
        if not problems:
            return
        if len(problems) == 1:
            raise cls(f"{file}: {problems[0]}")
        lines = "\n".join(f"  - {p}" for p in problems)
        raise cls(f"{file}: {len(problems)} problems:\n{lines}")


class OutputError(BizcaseError):
    """An output folder or file cannot be written; nothing was replaced."""
