"""bizcase: business cases of large consortium-built capital projects."""

__version__ = "0.1.0"
