"""The package's exception types.

Every error a user can act on (a bad file, an unknown category, a model that cannot be loaded)
is raised as one of these, with a message that names the input and the fix. The CLI turns them
into a one-line message and exit code 2.
"""

from socialbias.bbq_adapters.errors import DatasetError


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


class Terminated(KeyboardInterrupt):
    """The process got SIGTERM: raised in the main thread so that every ``finally`` runs (staging
    folders removed, answers committed, locks released) before the process exits with 143."""


#: Exceptions that mean "the user's input is bad" (CLI exit code 2), wherever they come from.
USER_ERRORS: tuple[type[Exception], ...] = (SocialBiasError, DatasetError)

#: HTTP statuses of a request the server refused for good because of the user's settings.
_USER_STATUSES = (400, 401, 403, 404, 422)


def user_errors() -> tuple[type[Exception], ...]:
    """Every exception type that means bad input, from socialbias, bbq_adapters and metrics."""
    from socialbias.metrics.errors import MetricsInputError

    return (*USER_ERRORS, MetricsInputError)


def exit_code(exc: BaseException) -> int | None:
    """The one place that maps an exception to the CLI's exit code: 2 bad input (one line that
    names the fix), 1 a failure worth retrying later, 130 Ctrl-C, 143 SIGTERM; None: a bug
    (the traceback is shown)."""
    if isinstance(exc, Terminated):
        return 143
    if isinstance(exc, KeyboardInterrupt):
        return 130
    if isinstance(exc, BackendError):
        # A refused request (bad key, unknown model, bad request) is bad input; a server that
        # stayed down or overloaded through every retry is a failure: resume later.
        return 2 if exc.status in _USER_STATUSES else 1
    if isinstance(exc, user_errors()):
        return 2
    return None


__all__ = ["SocialBiasError", "InputError", "StoreError", "BackendError", "DatasetError", "Terminated",
           "USER_ERRORS", "exit_code", "user_errors"]
