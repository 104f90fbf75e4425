"""Where a store lives and how to open it: a local folder, a ``.zarr.zip`` file, or a URL (``https://``,
``http://``, ``s3://``, ``gs://``, ``file://``), always read-only.

One home for the rules, so that the reader, ``info``, ``convert`` and ``process`` agree on what a URL is and
never mangle one into a path. Remote stores are read through obstore (zarr's ObjectStore): on a local HTTP
server answering 100 ms per request it opened a pyramid and read its coarsest level in about half fsspec's
time, and 64 chunks in 0.85x (benchmarks/README.md, bench_remote.py). Every remote store is wrapped in one bounded
in-memory cache (:class:`RemoteCache`) kept per URL, so that the viewer and the engine reading the same
URL share what was fetched.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from os import PathLike, fspath
from pathlib import Path
from threading import Lock
from urllib.parse import unquote, urlsplit

import obstore.exceptions
from zarr.core.buffer import default_buffer_prototype
from zarr.experimental.cache_store import CacheStore
from zarr.storage import MemoryStore

from ._errors import InvalidOptionError, RemoteStoreError

REMOTE_SCHEMES = ("http", "https", "s3", "gs")
ZIP_SUFFIX = ".zip"
# A remote store keeps at most this many bytes of chunks and metadata in memory (least recently used out
# first), and at most REMOTE_STORES_KEPT stores stay open: the cache is bounded at their product.
CACHE_BYTES = 256 * 2**20
REMOTE_STORES_KEPT = 4
# obstore retries a failing request for up to 3 minutes by default: a person at the viewer gives up sooner.
DEFAULT_CLIENT_OPTIONS = {"timeout": "30s", "connect_timeout": "5s", "allow_http": True}
DEFAULT_RETRY = {"max_retries": 2, "retry_timeout": timedelta(seconds=10)}
CREDENTIAL_KEYS = ("access_key_id", "secret_access_key", "token")
# The keys of obstore's ClientConfig; every other storage option is the store's own (region, endpoint, ...).
CLIENT_OPTION_KEYS = frozenset({
    "allow_http", "allow_invalid_certificates", "connect_timeout", "default_content_type", "default_headers",
    "http1_only", "http2_keep_alive_interval", "http2_keep_alive_timeout", "http2_keep_alive_while_idle",
    "http2_only", "pool_idle_timeout", "pool_max_idle_per_host", "proxy_url", "proxy_ca_certificate",
    "proxy_excludes", "randomize_addresses", "read_timeout", "timeout", "user_agent",
})


@dataclass(frozen=True)
class Location:
    """Where a store lives.

    ``text`` is how the person gave it (the URL, or the path); ``scheme`` is ``"local"`` (a folder, or a
    file given by a ``file://`` URL), ``"zip"`` (a ``.zip`` file) or the URL's scheme; ``path`` is the local
    path (of the zip file, for a zip store), None for a remote store; ``inside`` is the path of a node inside
    a zip store (``plate.zarr.zip/B/3/0``: a plate's field), as a key of the store.
    """

    text: str
    scheme: str
    path: Path | None = None
    inside: str = ""

    @property
    def remote(self) -> bool:
        return self.scheme in REMOTE_SCHEMES

    @property
    def name(self) -> str:
        """The store's name for a layer: its last path element without ``.zarr``, ``.ome`` or ``.zip``."""
        name = urlsplit(self.text).path.rstrip("/").rsplit("/", 1)[-1] if self.remote else Path(self.text).name
        for suffix in (ZIP_SUFFIX, ".zarr", ".ome"):
            name = name.removesuffix(suffix)
        return name or self.text


def locate(path: str | PathLike) -> Location:
    """The :class:`Location` of ``path`` (a path or a URL); cheap, touches neither disk nor network."""
    text = fspath(path)
    parts = urlsplit(text) if "://" in text else None
    if parts is not None and parts.scheme in REMOTE_SCHEMES:
        return Location(text.rstrip("/"), parts.scheme)
    local = Path(unquote(parts.path)) if parts is not None and parts.scheme == "file" else Path(text)
    for index, part in enumerate(local.parts):  # the first element that names a zip file is the store
        if _is_zip(Path(part)):
            return Location(text, "zip", Path(*local.parts[: index + 1]), "/".join(local.parts[index + 1 :]))
    return Location(text, "local", local)


def is_url(path) -> bool:
    """Whether ``path`` is a URL of a remote store (``https://``, ``s3://``, ...)."""
    return isinstance(path, str) and locate(path).remote


def _is_zip(path: Path) -> bool:
    return path.name.lower().endswith(ZIP_SUFFIX)


def zip_advice(folder: str) -> str:
    """How to make a zip store of the zarr folder named ``folder`` that opens everywhere: its contents at
    the zip's root, stored uncompressed (chunks are compressed already)."""
    name = folder.rstrip("/\\").rsplit("/", 1)[-1]
    return f"cd {name} && zip -r0 ../{name}.zip ."


def refuse_read_only_target(target: str | PathLike) -> None:
    """Raise :class:`RemoteStoreError` for a write target that is a URL (remote stores are only read; a local
    target is given by its path), and :class:`InvalidOptionError` for a zip file (zip stores are only read:
    a folder is written, then zipped)."""
    location = locate(target)
    if location.scheme == "zip":
        folder = Path(location.text).name.removesuffix(ZIP_SUFFIX)
        raise InvalidOptionError("target", (
            f"cannot write to {target}: zip stores are read-only here; write a folder ({folder}) and zip it, from "
            f"inside the folder: {zip_advice(folder)}"))
    if not (isinstance(target, str) and "://" in target):
        return
    if location.remote:
        raise RemoteStoreError(
            f"cannot write to {target}: remote stores are read-only here; write to a local folder and copy it "
            "there with the storage's own tools"
        )
    raise RemoteStoreError(f"cannot write to {target}: give the target as a path ({location.path}), not a URL")


def refuse_misplaced_options(location: Location, storage_options: Mapping | None) -> None:
    """Refuse what cannot be opened as asked, before any request: storage options for a local path (they
    are a remote store's), and a URL of a zip store or of a TIFF (read here from local files only)."""
    if storage_options and not location.remote:
        raise InvalidOptionError(
            "storage_options", f"{{storage_options}} {', '.join(sorted(storage_options))}: storage options are "
            f"for remote stores (URLs); {location.text} is a local {'zip file' if location.scheme == 'zip' else 'path'}")
    if not location.remote:
        return
    name = urlsplit(location.text).path.lower()
    if name.endswith(ZIP_SUFFIX):
        raise RemoteStoreError(f"{location.text}: zip stores are read from local files only: download it, then "
                               "open the file")
    if name.endswith((".tif", ".tiff")):
        raise RemoteStoreError(f"{location.text}: a TIFF is read from a local file only: download it, then convert "
                               "it (napari-zarr-tiles convert FILE.tif OUT.zarr)")


# --- opening -------------------------------------------------------------------------------------------------

_opened: OrderedDict[tuple, object] = OrderedDict()
_opened_lock = Lock()
_signed: set[tuple] = set()


def open_store(location: Location, storage_options: Mapping | None = None, *, signed: bool = False):
    """A read-only zarr store for a remote or zip ``location``, with ``storage_options`` (obstore's: client
    options such as ``timeout``, and the store's own such as ``region``, ``endpoint``,
    ``access_key_id``).

    A remote store is opened once per URL and options, and kept (with its cache) for the next caller. S3 and
    GCS stores are anonymous unless ``signed`` (or credentials are given in ``storage_options``): public
    buckets then need no credentials at all.
    """
    if location.scheme == "zip":
        from zarr.storage import ZipStore

        return ZipStore(location.path, mode="r", read_only=True)
    options_key = tuple(sorted((str(k), str(v)) for k, v in (storage_options or {}).items()))
    signed = signed or (location.text, options_key) in _signed  # refused anonymously before
    key = (location.text, signed, options_key)
    with _opened_lock:
        if signed:
            _signed.add((location.text, options_key))
        if key in _opened:
            _opened.move_to_end(key)
            return _opened[key]
    store = RemoteCache(_object_store(location, dict(storage_options or {}), signed))
    store.url = location.text
    store.endpoint = _endpoint(location, storage_options or {})
    with _opened_lock:
        store = _opened.setdefault(key, store)
        while len(_opened) > REMOTE_STORES_KEPT:
            _opened.popitem(last=False)
    return store


def _object_store(location: Location, options: dict, signed: bool):
    import obstore.exceptions
    from obstore.store import GCSStore, HTTPStore, S3Store
    from zarr.storage import ObjectStore

    given = dict(options)
    client = {**DEFAULT_CLIENT_OPTIONS, **{k: options.pop(k) for k in list(options) if k in CLIENT_OPTION_KEYS}}
    common = {"client_options": client, "retry_config": DEFAULT_RETRY}
    try:
        if location.scheme in ("http", "https"):
            if options:
                raise InvalidOptionError(
                    "storage_options",
                    f"{{storage_options}} {sorted(options)} do not apply to {location.scheme} URLs "
                    f"(those that do: {', '.join(sorted(CLIENT_OPTION_KEYS))})",
                )
            store = HTTPStore.from_url(location.text, **common)
        elif location.scheme == "s3":
            credentials_given = any(key in options for key in CREDENTIAL_KEYS)
            settings = _s3_credentials(signed and not credentials_given)
            if credentials_given:
                settings.pop("skip_signature", None)
            store = S3Store.from_url(location.text, **{**settings, **options}, **common)
        else:
            store = GCSStore.from_url(location.text, **({} if signed else {"skip_signature": True}), **options, **common)
    except obstore.exceptions.UnknownConfigurationKeyError as error:
        raise InvalidOptionError("storage_options", f"{{storage_options}}: {error}") from None
    except (obstore.exceptions.GenericError, TypeError) as error:  # a value obstore cannot take
        raise _option_value_error(error, given) from None
    return ObjectStore(store, read_only=True)


# What a storage option of each kind takes, by the type obstore names when it cannot parse one.
OPTION_KINDS = {
    "Duration": "a duration such as 30s or 2min",
    "boolean": "true or false",
    "usize": "a whole number",
}


def _option_value_error(error: Exception, given: dict) -> InvalidOptionError:
    """:class:`InvalidOptionError` naming the storage option whose value obstore refused, and what it takes
    (obstore's message names the value and its type, never the option)."""
    text = str(error).split("Debug source")[0].strip()
    odd = [key for key, value in given.items() if not isinstance(value, str | bool | timedelta)]
    if isinstance(error, TypeError) and odd:
        return InvalidOptionError(
            "storage_options", f"{{storage_options}} {', '.join(odd)}: give the value as text (timeout='30s', "
            f"region='eu-west-1'), not {', '.join(repr(given[key]) for key in odd)} ({text})")
    if "Missing SecretAccessKey" in text or "Missing AccessKeyId" in text:
        return InvalidOptionError(
            "storage_options", "{storage_options} access_key_id and secret_access_key go together: give both "
            "(or neither, for a public bucket or the AWS_* environment's credentials)")
    parsed = re.search(r'failed to parse "(.*)" as (\w+)', text)
    if parsed is not None:
        value, kind = parsed.groups()
        keys = [key for key, given_value in given.items() if str(given_value) == value] or ["an option"]
        takes = OPTION_KINDS.get(kind, f"a {kind}")
        return InvalidOptionError("storage_options", f"{{storage_options}} {keys[0]} takes {takes}, not {value!r}")
    return InvalidOptionError("storage_options", f"{{storage_options}}: {text.splitlines()[0]}")


def _s3_place() -> dict:
    """Where the S3 store is, from the standard AWS environment: its ``region`` (``AWS_REGION``), and its
    ``endpoint`` for S3-compatible servers (``AWS_ENDPOINT_URL``), where set."""
    environ = os.environ
    endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    place = {"region": environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"}
    return {**place, "endpoint": endpoint} if endpoint else place


def _endpoint(location: Location, options: Mapping) -> str:
    """Where the requests for ``location`` go, as a person would name it in a message."""
    if location.scheme == "s3":
        place = {**_s3_place(), **{key: options[key] for key in ("region", "endpoint") if key in options}}
        return place.get("endpoint") or f"AWS S3, region {place['region']}"
    if location.scheme == "gs":
        return "Google Cloud Storage"
    return urlsplit(location.text).netloc


def _s3_credentials(signed: bool) -> dict:
    """The S3 store's settings from the standard AWS environment (``AWS_ENDPOINT_URL`` for S3-compatible
    servers, ``AWS_REGION``), and: anonymous access; or, ``signed``, the standard AWS credentials (boto3,
    where installed, reads the environment, the AWS config and credentials files and profiles; without it,
    the ``AWS_ACCESS_KEY_ID`` family of environment variables)."""
    environ = os.environ
    settings = _s3_place()
    if not signed:
        return {"skip_signature": True, **settings}
    try:
        import boto3
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError:
        names = {"access_key_id": "AWS_ACCESS_KEY_ID", "secret_access_key": "AWS_SECRET_ACCESS_KEY",
                 "token": "AWS_SESSION_TOKEN"}
        return {**settings, **{key: environ[name] for key, name in names.items() if name in environ}}
    return {"credential_provider": Boto3CredentialProvider(boto3.Session()), **settings}


def signing_helps(location: Location, storage_options: Mapping | None) -> bool:
    """Whether a store refused anonymously could be tried again with credentials: an S3 or GCS bucket
    opened anonymously, where the standard credentials are set."""
    if any(key in (storage_options or {}) for key in CREDENTIAL_KEYS):
        return False  # signed already
    if location.scheme == "gs":
        return bool(os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or os.environ.get("GOOGLE_SERVICE_ACCOUNT"))
    if location.scheme != "s3":
        return False
    try:
        import boto3
    except ImportError:
        return "AWS_ACCESS_KEY_ID" in os.environ
    return boto3.Session().get_credentials() is not None


# --- the cache -----------------------------------------------------------------------------------------------


class RemoteCache(CacheStore):
    """zarr's CacheStore (least recently used out, bounded in bytes, in memory) that also remembers which
    keys are absent.

    Opening a zarr node of unknown format asks for every kind of metadata document (zarr.json, .zarray,
    .zgroup, .zattrs, .zmetadata), most of which are not there; over a network each answer costs a round
    trip, and zarr asks again for each node. A remote store is read-only here, so an absent key stays absent
    for as long as the store is open.
    """

    def __init__(self, store):
        super().__init__(store, cache_store=MemoryStore(), max_size=CACHE_BYTES, cache_set_data=False)
        self.absent: set[str] = set()
        self.url = ""  # set by open_store: the URL as the person gave it, for messages
        self.endpoint = ""  # set by open_store: where its requests go (a bucket's endpoint), for messages
        self.zarr_format: int | None = None  # set when the root is opened (_store)

    async def get(self, key, prototype, byte_range=None):
        if key in self.absent:
            return None
        value = await super().get(key, prototype, byte_range)
        if value is None:
            if byte_range is None:
                self.absent.add(key)
            return None
        # obstore hands back memory of exactly the object's size, and numcodecs' Blosc reads a chunk's header
        # (16 bytes) and the size that header states without checking the buffer's: an empty or cut-short
        # chunk read past its end and crashed the process. Copied into Python bytes, as a local file is read,
        # it fails to decode and is named like any bad chunk; the copy costs little next to decoding the chunk.
        return prototype.buffer.from_bytes(value.to_bytes())

    async def exists(self, key: str) -> bool:
        return key not in self.absent and await super().exists(key)

    async def fetch(self, keys: Iterable[str]) -> None:
        """Ask for all ``keys`` at once (one round trip), so that the reads that follow find them here."""
        wanted = [key for key in dict.fromkeys(keys) if key not in self.absent]
        answers = await asyncio.gather(*(self.get(key, default_buffer_prototype()) for key in wanted),
                                       return_exceptions=True)
        for answer in answers:  # every request is awaited before the first failure is raised
            if isinstance(answer, BaseException):
                raise answer

    def __str__(self) -> str:
        return self.url or str(self._store)


# --- failures in network terms -------------------------------------------------------------------------------


def network_reason(error: BaseException, url: str, endpoint: str = "") -> str | None:
    """What a failed request to the store at ``url`` (served from ``endpoint``, for a bucket) means, in a
    person's words with what to do; None for an error that is not the network's (a codec's, say)."""
    if not isinstance(error, obstore.exceptions.BaseError):
        return None
    text = str(error)
    if _refused(error):
        code = "401 unauthorized" if "401" in text.split("Debug source")[0] else "403 forbidden"
        return (f"forbidden (HTTP {code}): no access without credentials, or not with these. For a private "
                "bucket set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or ~/.aws/credentials), "
                "or pass access_key_id and secret_access_key as storage options")
    if "kind: Timeout" in text or "TimedOut" in text:
        return ("timed out: the store did not answer in time; try again, or allow longer with the storage "
                "option timeout (e.g. timeout=120s)")
    if "kind: Connect" in text or "ConnectionRefused" in text or "dns error" in text:
        parts = urlsplit(url)
        if parts.scheme in ("s3", "gs"):  # the URL's host is the bucket: its endpoint is what was not reached
            return (f"the bucket {parts.netloc} cannot be reached at {endpoint or 'its endpoint'}: it does not "
                    "exist there, or the endpoint or the network is wrong; check the bucket's name, the endpoint "
                    "(AWS_ENDPOINT_URL, or the storage option endpoint) and the network")
        return f"cannot connect to {urlsplit(url).netloc or url}: check the address and the network"
    status = next((part for part in text.split(" - ")[1:] if "status code" in part), None)
    if status is not None:
        return f"the server answered with an error: {status.split(':', 2)[1].strip()}"
    return f"{type(error).__name__}: {text.splitlines()[0]}"


def _refused(error: BaseException) -> bool:
    """Whether the store refused the request (HTTP 401 or 403; obstore's S3 store reports them generically)."""
    if isinstance(error, obstore.exceptions.PermissionDeniedError | obstore.exceptions.UnauthenticatedError):
        return True
    head = str(error).split("Debug source")[0]
    return "status code: 403" in head or "status code: 401" in head


def remote_error(error: BaseException, url: str, what: str = "", store=None) -> RemoteStoreError | None:
    """:class:`RemoteStoreError` for a network failure reading ``url`` from ``store`` (``what``, e.g.
    ``"array 's0'"``, names the part that failed); None for any other error."""
    reason = network_reason(error, url, getattr(store, "endpoint", ""))
    if reason is None:
        return None
    failure = RemoteStoreError(f"cannot read {url}{f': {what}' if what else ''}: {reason}")
    failure.reason = reason
    failure.refused = _refused(error)
    return failure
