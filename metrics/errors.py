"""The one exception type of :mod:`metrics`."""


class MetricsInputError(ValueError):
    """The answers table (or another input of :mod:`metrics`) cannot be scored as given.

    The message names the offending column or argument and says how to fix it. It is a
    ``ValueError`` so that callers that only know the standard library can still catch it.
    """
