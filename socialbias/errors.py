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


#: Exceptions that mean "the user's input is bad" (CLI exit code 2), wherever they come from.
USER_ERRORS: tuple[type[Exception], ...] = (SocialBiasError, DatasetError)

__all__ = ["SocialBiasError", "InputError", "StoreError", "DatasetError", "USER_ERRORS"]
