"""Errors of the dataset adapters (kept free of any ``socialbias`` import, as docs/design.md asks)."""


class DatasetError(ValueError):
    """A dataset file or record is unusable. The message names file, line and field, and the fix."""
