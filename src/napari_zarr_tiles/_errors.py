"""The project's exception types, in one place so that callers can catch them.

One subclass per failure a caller may want to handle on its own; every one is a :class:`ZarrTilesError`,
and each also derives from the built-in type a caller would otherwise expect (OSError, ValueError, ...).
"""

from collections.abc import Mapping


class ZarrTilesError(Exception):
    """Base class of every error this plugin raises on purpose."""


class NotZarrError(ZarrTilesError, ValueError):
    """A path that holds no zarr store (a plain folder, a TIFF given to the zarr reader)."""


class UnreadableStoreError(ZarrTilesError, OSError):
    """A zarr store or array that exists but cannot be opened (bad metadata, unknown codec).

    ``reason`` is why, in a person's words, without the place (where it was set: a listing names the place).
    """

    reason: str | None = None


class UnreadableChunkError(UnreadableStoreError):
    """A chunk that is on disk but cannot be read or decoded (truncated, corrupt, an I/O error)."""


class DamagedStoreError(UnreadableStoreError):
    """A store this plugin marked complete that has since lost chunks."""


class OmeMetadataError(ZarrTilesError, ValueError):
    """OME-NGFF metadata that does not describe the arrays beside it."""


class InvalidOptionError(ZarrTilesError, ValueError):
    """A write option or filter parameter out of its range, named as the interface used calls it.

    ``option`` is the Python keyword at fault; the message is a template naming options as ``{keyword}``,
    which :meth:`in_words` fills with an interface's own words (``{"tile": "--chunks"}`` on the command line).
    """

    def __init__(self, option: str, template: str):
        self.option, self.template = option, template
        super().__init__(self.in_words({}))

    def __reduce__(self):  # picklable, as a dask.distributed worker's errors must be
        return type(self), (self.option, self.template)

    def in_words(self, words: Mapping[str, str]) -> str:
        return self.template.format_map(_Words(words))


class _Words(dict):
    def __missing__(self, keyword: str) -> str:
        return keyword


class TargetExistsError(ZarrTilesError, FileExistsError):
    """The target of a write exists, and replacing it was not asked for (or cannot be).

    ``replaced_by``, where given, is the Python keyword of the option that would replace it; each interface
    says it in its own words (:meth:`in_words`: ``{"overwrite": "--overwrite replaces it"}`` on the command
    line), Python's by default ("pass overwrite=True to replace it").
    """

    def __init__(self, message: str, replaced_by: str | None = None):
        self.message, self.replaced_by = message, replaced_by
        super().__init__(self.in_words({}))

    def __reduce__(self):  # picklable, as a dask.distributed worker's errors must be
        return type(self), (self.message, self.replaced_by)

    def in_words(self, words: Mapping[str, str]) -> str:
        if self.replaced_by is None:
            return self.message
        return f"{self.message}; {words.get(self.replaced_by) or f'pass {self.replaced_by}=True to replace it'}"


class TargetLockedError(ZarrTilesError):
    """Another write into the same target is under way."""


class ResumeMismatchError(ZarrTilesError):
    """An unfinished write at the target was of another source, other steps or another layout."""


class WriteCancelled(ZarrTilesError):
    """A write stopped because the person asked it to (Cancel, Ctrl-C)."""


class TargetNotWritableError(ZarrTilesError, OSError):
    """The target's folder or disk refuses the write: read-only, no permission, or full."""


class SchedulerUnreachableError(ZarrTilesError, ConnectionError):
    """The dask.distributed scheduler asked for does not answer."""


class UnfinishedWriteKept(UserWarning):
    """A write that is not resumable found the unfinished store of an earlier resumable write into the same
    target (``.NAME.partial``), and left it as is.

    Each interface says how to continue it in its own words (:meth:`in_words`: ``{"resumable": "the same
    command with --resumable"}`` on the command line), Python's by default.
    """

    def __init__(self, partial: str, target: str):
        self.partial, self.target = partial, target
        super().__init__(self.in_words({}))

    def in_words(self, words: Mapping[str, str]) -> str:
        again = words.get("resumable") or "a write with resumable=True into the same target"
        return (f"an unfinished write into {self.target} is kept at {self.partial} and was left as is: "
                f"{again} continues it; or remove it")


class RemoteStoreError(UnreadableStoreError):
    """A remote store (a URL) that did not answer as asked: forbidden, timed out, not reachable; or a write
    asked of one (remote stores are only read). The message names the URL and says what to do.

    ``refused`` is True where the store refused the request (HTTP 401 or 403): credentials may help.
    """

    refused: bool = False
