"""The package's exception types.

Every error a user can act on (a bad file, an unknown category, a model that cannot be loaded)
is raised as one of these, with a message that names the input and the fix. The CLI turns them
into a one-line message and exit code 2.
"""

from bbq_adapters.errors import DatasetError


class SocialBiasError(Exception):
    """Base class of every error raised on purpose by socialbias."""


class InputError(SocialBiasError, ValueError):
    """Bad user input: a file, a flag, a name. The message says what is wrong and how to fix it."""


class StoreError(SocialBiasError):
    """The response store cannot be opened or written safely (corrupt file, newer schema, lock)."""


class BackendError(SocialBiasError):
    """An inference engine or server refused the run for good (bad API key, unknown model, bad
    request) or stayed unreachable after every retry. The message names the HTTP status (when
    there is one), the server's message and the fix; ``status`` holds the HTTP status or None."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


#: Exceptions that mean "the user's input is bad" (CLI exit code 2), wherever they come from.
USER_ERRORS: tuple[type[Exception], ...] = (SocialBiasError, DatasetError)

__all__ = ["SocialBiasError", "InputError", "StoreError", "BackendError", "DatasetError", "USER_ERRORS"]
