"""Fault injection for the tests: a zarr store that fails, delays, corrupts or drops chosen keys.

Damage on disk (a truncated or deleted chunk file) is made with plain file operations in the tests; what
cannot be made that way (an I/O error, a full disk, a slow store, a key that reads differently each time)
is made here. The ``faults`` fixture (conftest.py) makes every local store the plugin opens go through a
:class:`FaultyStore` with the rules the test sets::

    def test_a_full_disk(faults, tmp_path):
        faults.full_disk(after=3)        # the fourth key written raises ENOSPC
        faults.corrupt("0/1.2")          # this key reads as garbage
        faults.fail("*/zarr.json", OSError(errno.EIO, "I/O error"))
        faults.delay("0/*", 0.1)         # each read of a level-0 key waits 100 ms
        faults.drop("0/0.0")             # this key reads as missing
"""

from __future__ import annotations

import asyncio
import errno
import fnmatch
import threading
from dataclasses import dataclass, field

from zarr.core.buffer import Buffer
from zarr.storage import WrapperStore


@dataclass
class Faults:
    """The rules, by key pattern (``fnmatch``, matched against the key relative to the store's root)."""

    failures: dict[str, tuple[BaseException, str]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    corrupted: set[str] = field(default_factory=set)
    dropped: set[str] = field(default_factory=set)
    writes_before_full: int | None = None
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, pattern: str, error: BaseException, *, on: str = "get") -> None:
        """Raise ``error`` when a key matching ``pattern`` is read (``on="get"``) or written (``on="set"``)."""
        self.failures[pattern] = (error, on)

    def delay(self, pattern: str, seconds: float) -> None:
        self.delays[pattern] = seconds

    def corrupt(self, pattern: str) -> None:
        """Matching keys read as bytes no codec can decode."""
        self.corrupted.add(pattern)

    def drop(self, pattern: str) -> None:
        """Matching keys read as missing (as if the file were deleted), and are not listed."""
        self.dropped.add(pattern)

    def full_disk(self, after: int = 0) -> None:
        """Every write after the first ``after`` writes (metadata and chunks alike) raises ENOSPC."""
        self.writes_before_full = after

    def matches(self, patterns, key: str) -> bool:
        return any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns)


GARBAGE = b"\x00\xffnot a chunk\xff\x00" * 4


class FaultyStore(WrapperStore):
    """A store that applies :class:`Faults` to the store it wraps."""

    def __init__(self, store, faults: Faults | None = None) -> None:
        super().__init__(store)
        self.faults = faults if faults is not None else Faults()

    def _with_store(self, store):
        return type(self)(store, self.faults)

    @property
    def root(self):
        # The plugin lists a local store's files under its root (what is written, for a resume).
        return self._store.root

    async def _before(self, key: str, on: str) -> None:
        faults = self.faults
        for pattern, seconds in faults.delays.items():
            if fnmatch.fnmatchcase(key, pattern):
                await asyncio.sleep(seconds)
        for pattern, (error, when) in faults.failures.items():
            if when == on and fnmatch.fnmatchcase(key, pattern):
                raise error

    async def get(self, key, prototype, byte_range=None):
        await self._before(key, "get")
        with self.faults._lock:
            self.faults.reads.append(key)
        if self.faults.matches(self.faults.dropped, key):
            return None
        if self.faults.matches(self.faults.corrupted, key):
            return prototype.buffer.from_bytes(GARBAGE)
        return await self._store.get(key, prototype, byte_range)

    async def exists(self, key: str) -> bool:
        if self.faults.matches(self.faults.dropped, key):
            return False
        return await self._store.exists(key)

    async def set(self, key: str, value: Buffer) -> None:
        await self._before(key, "set")
        faults = self.faults
        with faults._lock:
            if faults.writes_before_full is not None:
                if faults.writes_before_full <= 0:
                    raise OSError(errno.ENOSPC, "No space left on device", key)
                faults.writes_before_full -= 1
            faults.writes.append(key)
        await self._store.set(key, value)

    async def _list_filtered(self, listing):
        async for key in listing:
            if not self.faults.matches(self.faults.dropped, key):
                yield key

    def list(self):
        return self._list_filtered(self._store.list())

    def list_prefix(self, prefix: str):
        return self._list_filtered(self._store.list_prefix(prefix))
