"""The one exception family of genrekit.

Every error genrekit raises on purpose is a :class:`GenrekitError`, so callers can catch one class;
the children say which stage failed. Messages name the file or value at fault and, where it helps,
how to fix it.
"""

from __future__ import annotations


class GenrekitError(Exception):
    """Base class of every error raised by genrekit."""


class AudioLoadError(GenrekitError):
    """A file could not be read as audio (missing, not audio, corrupt, unsupported)."""


class AudioTooShortError(AudioLoadError):
    """The audio decoded fine but is shorter than genrekit can analyse."""


class FeatureStoreError(GenrekitError):
    """A feature store is missing, empty, damaged, or was made with other parameters."""


class ParameterError(GenrekitError, ValueError):
    """A function was called with an invalid argument value.

    ``option`` names the argument at fault as the Python API spells it (``"folds"``) and
    ``value`` its value, so the message reads ``folds=7: ...`` from the library and a command
    line can say ``--folds 7: ...`` (:meth:`with_flag`): the library names no flag of the CLI.
    """

    def __init__(self, message: str, *, option: str | None = None, value: object = None) -> None:
        self.option, self.value, self.detail = option, value, message
        super().__init__(message if option is None else f"{option}={value!r}: {message}")

    def with_flag(self) -> str:
        """The message as a command line says it: ``--folds 7: ...``."""
        if self.option is None:
            return str(self)
        return f"--{self.option.replace('_', '-')} {self.value}: {self.detail}"


class GenrekitWarning(UserWarning):
    """Something worked but not fully, e.g. a truncated file was only partly decoded."""


class PartialDecodeWarning(GenrekitWarning):
    """A damaged file was decoded up to the point of damage."""


class FetchError(GenrekitError):
    """A web service or a download failed: a refused request, a bad answer, or retries ran out."""


class HttpStatusError(FetchError):
    """A service answered with an HTTP error status that retrying will not fix (4xx)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class ExpiredLinkError(HttpStatusError):
    """A signed preview link has expired (HTTP 403/410); resolve a fresh one and try again."""


class SourceUnavailableError(FetchError):
    """A source cannot give previews at all (no credentials, or the service withdrew them)."""


class ServiceUnreachableError(FetchError):
    """A service's host could not be reached at all (no network, a wrong address, DNS failure)."""


class ServiceBusyError(ServiceUnreachableError):
    """A service kept asking to wait (Retry-After, quota) past the run's budget of waiting."""


class BadLinkError(FetchError):
    """A link that cannot or must not be followed: not http(s), malformed, a private address,
    a redirect loop, or an answer too large to be what was asked for. Retrying will not help."""


class CatalogError(GenrekitError):
    """A data set's catalog is missing, damaged, or asked for something it cannot do."""


class FolderLockedError(GenrekitError):
    """Another process is writing to the data set or feature store (it holds the folder's lock)."""


class ModelError(GenrekitError):
    """A model folder or file is missing, damaged, or does not fit the features given to it."""


class MissingExtraError(GenrekitError, ImportError):
    """A part of genrekit needs a package of an optional extra this install lacks."""


class ClusterError(GenrekitError):
    """A Dask cluster could not be reached, or has no worker to run a batch on."""


class SilentAudioError(GenrekitError):
    """The audio holds no sound loud enough to classify."""


def reason_about(path: object, exc: BaseException) -> str:
    """An error's message about one file, without the file's name where the message starts with
    it: a batch names the file itself, once."""
    message = str(exc)
    name = str(path)
    for prefix in (f"{name}: ", f"{name.rsplit('/', 1)[-1]}: "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message
