"""Labels on disk opened for editing: read and write level 0 chunk by chunk, commit whole chunks atomically and
rebuild only the pyramid tiles above them, label-safe.

The reader never writes; only an editor made here does, and only the chunks an edit changed. Each chunk
(or shard, in a sharded array: the unit a file holds) is encoded by zarr into memory and written to a
temporary file beside its own, then moved over it (``os.replace``): a chunk on disk is always the old one or
the new one, never a torn mix. Edits not yet committed are kept in a journal beside the store (at each
commit, and whenever :meth:`LabelsEditor.save_journal` is called), so that a crash loses nothing committed to
it: the next editor of the same labels offers them back (:attr:`LabelsEditor.recovered`). A lock beside the
store (the writer's own) keeps a second editor, or a write, out while one is open. No napari here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import pairwise, product
from os import PathLike, fspath
from pathlib import Path
from typing import Self

import numpy as np
import zarr
import zarr.storage
from zarr.core.buffer import default_buffer_prototype
from zarr.storage import MemoryStore

from . import _ome
from ._errors import (
    InvalidOptionError,
    OmeMetadataError,
    ResumeMismatchError,
    TargetExistsError,
    TargetLockedError,
    TargetNotWritableError,
    ZarrTilesError,
)
from ._location import ZIP_SUFFIX, locate
from ._pyramid import downsample_block
from ._reader import ImageSource, find_images
from ._store import WRITER_MARKER, NamedReads, fill_value, is_zarr_path, open_readonly
from ._stream import write_unit
from ._writing import _target_lock

__all__ = ["CommitReport", "LabelsEditor", "RecoveredEdits", "edit_labels", "new_labels"]

# zarr's metadata documents, copied to encode chunks in memory exactly as the array on disk would.
METADATA_FILES = ("zarr.json", ".zarray")
TEMPORARY_SUFFIX = ".edit-partial"
# What new labels record: their chunks are written as they are painted, absent ones are 0 by design (the
# reader does not count them as missing).
SPARSE = {"sparse": True}


@dataclass(frozen=True)
class CommitReport:
    """What a commit wrote: chunk (or shard) files per pyramid level, finest first, and their bytes."""

    chunks: tuple[int, ...]
    bytes_written: int
    seconds: float


@dataclass(frozen=True)
class RecoveredEdits:
    """Edits an earlier editor of the same labels left uncommitted (it closed with them, or crashed)."""

    journal: Path
    chunks: int
    saved: datetime


@dataclass
class _Edit:
    """One assignment, as undo needs it: per chunk, where it changed and what was there before."""

    changes: list[tuple[tuple[int, ...], tuple[slice, ...], np.ndarray]] = field(default_factory=list)


def edit_labels(path: str | PathLike) -> LabelsEditor:
    """Open the labels at ``path`` for editing.

    Parameters
    ----------
    path
        An OME-Zarr label image (``image.zarr/labels/NAME``, with its pyramid), an OME-Zarr image holding
        exactly one label image, or a plain zarr array of integers.

    Returns
    -------
    LabelsEditor
        ``editor[selection] = value`` and ``editor[selection]`` on level 0; ``commit()`` writes the changed
        chunks and the pyramid tiles above them; ``undo()``; ``close()`` (or use it in a ``with`` block).

    Raises
    ------
    TargetLockedError
        If the store is open in another editor, or being written.
    ZarrTilesError
        If ``path`` holds no labels, or several (the message names them).
    """
    if not isinstance(path, str | PathLike):
        raise ZarrTilesError(
            f"edit_labels takes the labels' path, not {type(path).__name__}: for a layer opened by napari-zarr-tiles, "
            "layer.metadata['zarr_path']"
        )
    _refuse_read_only_store(path, "its labels cannot be edited in place")
    return LabelsEditor(_labels_source(path))


# What new labels for an image in a store that cannot hold them need (each interface says it in its own words).
SEPARATE_STORE = "name a separate store for the labels (store=)"


def _refuse_read_only_store(path: str | PathLike, what: str) -> None:
    """Refuse, in words and before anything is read, to write into a remote store (a URL) or a zip store."""
    location = locate(path)
    if location.scheme == "local":
        return
    # The store is the first element of the path that names one (labels are addressed inside it).
    found = re.match(rf"(.*?(?:\.zarr|{re.escape(ZIP_SUFFIX)}))(?:/|$)", location.text, re.IGNORECASE)
    store = found.group(1) if found else location.text
    raise TargetNotWritableError(
        f"{location.text} is read-only here (a remote or zip store): {what}; convert it to a local folder first "
        f"(napari-zarr-tiles convert {store} {locate(store).name}.zarr)"
    )


def _labels_source(path: str | PathLike) -> ImageSource:
    found = find_images(path)
    labels = [source for source in found.sources if source.labels]
    if not labels:
        plain = [source for source in found.sources if np.dtype(source.levels[0].dtype).kind in "biu"]
        node = open_readonly(path)
        plain_node = isinstance(node, zarr.Array) or _ome.ome_block(node.attrs.asdict()) is None
        if len(found.sources) == 1 and plain and plain_node:
            return plain[0]
        raise ZarrTilesError(
            f"{fspath(path)} holds no label image to edit (labels are an OME-Zarr label image, or a plain array of "
            "integers); to start one for this image, use new_labels"
        )
    if len(labels) > 1:
        raise ZarrTilesError(
            f"{fspath(path)} holds {len(labels)} label images: open one of them, "
            + ", ".join(source.where for source in labels)
        )
    return labels[0]


def _store_root(path: Path) -> Path:
    """The outermost folder of the zarr hierarchy holding ``path``: the lock and the journal lie beside it."""
    root = path
    while is_zarr_path(root.parent) and root.parent != root:
        root = root.parent
    return root


class LabelsEditor:
    """Level 0 of a label image, editable chunk by chunk; see :func:`edit_labels`.

    Reads (``editor[...]``) see the edits made so far, committed or not. An assignment reads the chunks it
    touches, holds them in memory and changes them; chunks where nothing changes are left alone. ``commit()``
    writes the changed chunks back, each atomically, then the pyramid tiles above them (label-safe: each
    coarse pixel is the first of its box, as the writer makes them), and clears the journal. ``undo()`` takes
    back the last assignment, committed or not, until the editor is closed.
    """

    def __init__(self, source: ImageSource):
        self.source = source
        self.path = Path(source.where)
        self._levels = list(source.levels)
        self._factors = _level_factors([level.shape for level in self._levels], source.where)
        self._root = _store_root(self.path)
        self._closed = True
        self._exit = ExitStack()
        try:
            self._exit.enter_context(_target_lock(self._root, "edit"))
        except TargetLockedError as error:
            raise TargetLockedError(f"{self.path} cannot be opened for editing: {error}") from None
        except TargetNotWritableError as error:
            reason = getattr(error.__cause__, "strerror", None) or "not writable"
            raise TargetNotWritableError(
                f"{self.path} cannot be opened for editing: {self._root.parent} cannot be written to ({reason}); "
                f"copy {self._root.name} to a folder you can write to and edit the copy"
            ) from None
        self._closed = False
        self._before_close: list = []
        _OPEN_EDITORS.add(self)
        self._unit = write_unit(self._levels[0])
        self._twins = [_twin(level) for level in self._levels]  # (array in memory, its dict of keys)
        self._held: dict[tuple[int, ...], np.ndarray] = {}
        self._dirty: set[tuple[int, ...]] = set()
        # What is on disk, per held unit (a digest of its pixels): a unit edited back to it is not written.
        self._on_disk: dict[tuple[int, ...], bytes] = {}
        self._versions: dict[tuple[int, ...], int] = {}
        self._encoded: dict[tuple[int, ...], tuple[int, bytes]] = {}  # unit -> (its version, its file's bytes)
        self._journaled: dict[tuple[int, ...], int] = {}  # unit -> the version last written to the journal
        self._history: list[_Edit] = []
        # One journal per label image of the store, named by its path inside it (the store's name for its root).
        inside = "%".join(self.path.relative_to(self._root).parts) or self._root.name
        self.journal_path = self._root.with_name(f".{self._root.name}.edits") / f"{inside}.journal"
        for level in self._levels:
            _remove_temporary_files(_array_folder(level))
        self.recovered = self._find_recovered()
        if self.recovered is not None:
            warnings.warn(
                f"{self.path} has {self.recovered.chunks} chunks of uncommitted edits saved at "
                f"{self.recovered.saved:%Y-%m-%d %H:%M:%S} UTC: restore_recovered() applies them, "
                "discard_recovered() drops them (the next save of the journal replaces them)",
                UserWarning, stacklevel=3,
            )

    # --- what is edited ---------------------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._levels[0].shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._levels[0].dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def chunks(self) -> tuple[int, ...]:
        """The unit an edit writes: a chunk, or a shard in a sharded array."""
        return self._unit

    @property
    def levels(self) -> int:
        return len(self._levels)

    @property
    def uncommitted(self) -> int:
        """How many chunks hold edits not yet committed."""
        return len(self._dirty)

    @property
    def can_undo(self) -> bool:
        return bool(self._history)

    # --- reading and writing level 0 --------------------------------------------------------------------------

    def __getitem__(self, selection) -> np.ndarray:
        self._check_open()
        region, dropped = _region(selection, self.shape)
        out = self._pixels(0, region, self._held)
        return out.reshape([n for axis, n in enumerate(out.shape) if axis not in dropped])

    def _pixels(self, level: int, region: tuple[slice, ...], known: dict) -> np.ndarray:
        """``level`` in ``region`` with the units in ``known`` (index: pixels) from memory: at level 0 those
        held (as edited), higher up those just rebuilt. The others are read: in one read where none is known
        (zarr decodes the chunks concurrently), else one by one, on threads."""
        units = list(self._units_in(region, level))
        if not any(index in known for index in units):
            return np.asarray(NamedReads(self._levels[level])[region])
        out = np.empty([s.stop - s.start for s in region], dtype=self.dtype)

        def fill(index: tuple[int, ...]) -> None:
            inside, local = _overlap(region, self._unit_region(index, level))
            if index in known:
                out[inside] = known[index][local]
            else:
                place = tuple(slice(r.start + i.start, r.start + i.stop) for r, i in zip(region, inside))
                out[inside] = NamedReads(self._levels[level])[place]

        _in_parallel(fill, units)
        return out

    def __setitem__(self, selection, value) -> None:
        self._check_open()
        region, dropped = _region(selection, self.shape)
        values = self._values(value, region, dropped)
        edit = _Edit()
        units = list(self._units_in(region))
        self._hold(units)
        for index in units:
            inside, local = _overlap(region, self._unit_region(index))
            block = self._block(index)
            if np.array_equal(block[local], values[inside]):
                continue
            edit.changes.append((index, local, block[local].copy()))
            block[local] = values[inside]
            self._changed(index)
        if edit.changes:
            self._history.append(edit)

    def undo(self) -> bool:
        """Take back the last assignment that changed something, committed or not; False if there is none."""
        self._check_open()
        if not self._history:
            return False
        for index, local, before in reversed(self._history.pop().changes):
            self._block(index)[local] = before
            self._changed(index)
        return True

    def revert(self) -> None:
        """Drop every edit not yet committed (they cannot be undone afterwards)."""
        self._check_open()
        for index in self._dirty:
            self._held.pop(index, None)
            self._on_disk.pop(index, None)
            self._encoded.pop(index, None)
        self._dirty.clear()
        self._history.clear()
        self._remove_journal()

    def _values(self, value, region: tuple[slice, ...], dropped: set[int]) -> np.ndarray:
        values = np.asarray(value)
        if values.dtype.kind not in "biu":
            if values.dtype.kind == "f" and np.all(np.mod(values, 1) == 0):
                values = values.astype(np.int64)
            else:
                raise InvalidOptionError("value", f"labels are whole numbers, not {values.dtype} values")
        if values.size and values.dtype != self.dtype:
            info = np.iinfo(self.dtype) if self.dtype.kind in "iu" else None
            if info is not None and (int(values.min()) < info.min or int(values.max()) > info.max):
                raise InvalidOptionError(
                    "value", f"label values {int(values.min())}..{int(values.max())} do not fit this store's {self.dtype}"
                )
        shape = [s.stop - s.start for axis, s in enumerate(region) if axis not in dropped]
        try:
            values = np.broadcast_to(values.astype(self.dtype, copy=False), shape)
        except ValueError:
            raise InvalidOptionError(
                "value", f"labels of shape {values.shape} cannot fill a selection of shape {tuple(shape)}: give one "
                "label, or an array of the selection's shape"
            ) from None
        return values.reshape([s.stop - s.start for s in region])

    def _units_in(self, region: tuple[slice, ...], level: int = 0) -> Iterator[tuple[int, ...]]:
        unit = write_unit(self._levels[level])
        return product(*(range(s.start // u, -(-s.stop // u)) for s, u in zip(region, unit)))

    def _unit_region(self, index: tuple[int, ...], level: int = 0) -> tuple[slice, ...]:
        unit, shape = write_unit(self._levels[level]), self._levels[level].shape
        return tuple(slice(i * u, min((i + 1) * u, n)) for i, u, n in zip(index, unit, shape))

    def _block(self, index: tuple[int, ...]) -> np.ndarray:
        """The level-0 unit at ``index`` as edited so far, held in memory from now on."""
        if index not in self._held:
            self._held[index] = np.array(NamedReads(self._levels[0])[self._unit_region(index)])
            self._on_disk[index] = _digest(self._held[index])
        return self._held[index]

    def _hold(self, indices: list[tuple[int, ...]]) -> None:
        """Read the level-0 units at ``indices`` not yet held, on threads, and hold them."""
        missing = [index for index in indices if index not in self._held]
        _in_parallel(self._block, missing)

    def _changed(self, index: tuple[int, ...]) -> None:
        self._dirty.add(index)
        self._versions[index] = self._versions.get(index, 0) + 1

    # --- the journal ------------------------------------------------------------------------------------------

    def save_journal(self) -> int:
        """Keep the uncommitted edits beside the store, where the next editor finds them after a crash;
        return how many chunks were saved now (those changed since the last save).

        Each edited chunk is kept as the file it will be in the store (encoded once, for the journal and the
        commit alike): small, and written fast."""
        self._check_open()
        if not self._dirty:
            self._remove_journal()
            return 0
        news = [index for index in sorted(self._dirty) if self._journaled.get(index) != self._versions[index]]
        if not news:
            return 0
        units = sorted(self._dirty)
        encoded = self._encoded_units(units)
        offsets = np.cumsum([0] + [len(encoded[index]) for index in units]).tolist()
        manifest = {
            "path": str(self.path), "shape": list(self.shape), "dtype": str(self.dtype), "unit": list(self._unit),
            "saved": datetime.now(timezone.utc).isoformat(),
            "units": [[list(index), start, stop] for index, start, stop in zip(units, offsets, offsets[1:])],
        }
        # One file, flushed once: the manifest on its first line, then each chunk's bytes.
        self.journal_path.parent.mkdir(parents=True, exist_ok=True)
        _write_file_atomically(self.journal_path,
                               json.dumps(manifest).encode() + b"\n" + b"".join(encoded[index] for index in units))
        self._journaled.update({index: self._versions[index] for index in news})
        return len(news)

    def _encoded_units(self, indices: list[tuple[int, ...]]) -> dict[tuple[int, ...], bytes]:
        """The file bytes of level-0 units as edited now, encoded once per version, on threads."""
        stale = [index for index in indices if self._encoded.get(index, (None,))[0] != self._versions[index]]
        for index, data in zip(stale, _in_parallel(lambda index: self._encode(0, index, self._held[index]), stale)):
            self._encoded[index] = (self._versions[index], data)
        return {index: self._encoded[index][1] for index in indices}

    def _remove_journal(self) -> None:
        self.journal_path.unlink(missing_ok=True)
        self._journaled.clear()
        try:
            self.journal_path.parent.rmdir()  # the last journal beside this store
        except OSError:
            pass

    def _find_recovered(self) -> RecoveredEdits | None:
        manifest = self._manifest()
        if manifest is None:
            return None
        return RecoveredEdits(self.journal_path, len(manifest["units"]), datetime.fromisoformat(manifest["saved"]))

    def _manifest(self) -> dict | None:
        try:
            with open(self.journal_path, "rb") as journal:
                return json.loads(journal.readline())
        except (FileNotFoundError, ValueError):
            return None

    def restore_recovered(self) -> int:
        """Apply the recovered edits (:attr:`recovered`) as one assignment (undoable); return the chunk count."""
        self._check_open()
        manifest = self._manifest()
        if manifest is None:
            return 0
        if (manifest["shape"], manifest["dtype"], manifest["unit"]) != (list(self.shape), str(self.dtype), list(self._unit)):
            raise ResumeMismatchError(
                f"the uncommitted edits kept at {self.journal_path} were made on labels of shape {tuple(manifest['shape'])}, "
                f"{manifest['dtype']}, chunks {tuple(manifest['unit'])}; {self.path} is now {self.shape}, {self.dtype}, "
                f"chunks {self._unit}: discard them (discard_recovered())"
            )
        edit = _Edit()
        payload = self.journal_path.read_bytes().split(b"\n", 1)[1]
        for raw, start, stop in manifest["units"]:
            index = tuple(raw)
            recovered = self._decode(0, index, payload[start:stop])
            block = self._block(index)
            edit.changes.append((index, (slice(None),) * self.ndim, block.copy()))
            block[...] = recovered
            self._changed(index)
        if edit.changes:
            self._history.append(edit)
        self.recovered = None
        return len(edit.changes)

    def discard_recovered(self) -> None:
        """Drop the recovered edits (:attr:`recovered`) for good."""
        self._check_open()
        if self.recovered is not None and not self._dirty:
            self._remove_journal()
        self.recovered = None

    # --- commit -----------------------------------------------------------------------------------------------

    def commit(self) -> CommitReport:
        """Write the changed chunks of level 0, then the pyramid tiles above them, each file atomically.

        A commit stopped half-way (a crash, a full disk) leaves every chunk either as it was or as edited;
        the journal, written first, still holds the edits, so the next editor offers them back and its
        commit finishes the pyramid. Chunks are encoded and written on threads (the codecs release the GIL).
        """
        self._check_open()
        started = time.perf_counter()
        dirty = sorted(self._dirty)
        digests = _in_parallel(lambda index: _digest(self._held[index]), dirty)
        changed = [index for index, digest in zip(dirty, digests) if digest != self._on_disk[index]]
        if not changed:
            self._forget_uncommitted()
            return CommitReport((0,) * self.levels, 0, 0.0)
        self.save_journal()
        encoded = self._encoded_units(changed)
        counts, written = [len(changed)] + [0] * (self.levels - 1), sum(len(data) for data in encoded.values())
        _in_parallel(lambda index: self._write(0, index, encoded[index]), changed)
        below = self._held  # the level just written, as far as it is in memory
        for level in range(1, self.levels):
            above = sorted({unit for index in changed for unit in self._units_above(level, index)})
            rebuilt = _in_parallel(lambda index, level=level, below=below: self._rebuild(level, index, below), above)
            changed = [index for index, (size, _) in zip(above, rebuilt) if size is not None]
            counts[level] = len(changed)
            written += sum(size for size, _ in rebuilt if size is not None)
            below = {index: block for index, (_, block) in zip(above, rebuilt)}
        self._forget_uncommitted()
        return CommitReport(tuple(counts), written, time.perf_counter() - started)

    def _forget_uncommitted(self) -> None:
        """After a commit: nothing is uncommitted, nothing need be held (undo reads what it needs again)."""
        self._dirty.clear()
        self._held.clear()
        self._on_disk.clear()
        self._encoded.clear()
        self._remove_journal()

    def _units_above(self, level: int, index: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
        """The units of ``level`` whose pixels come from unit ``index`` of the level below it."""
        region = self._unit_region(index, level - 1)
        factors = self._factors[level]
        coarse = tuple(slice(s.start // f, -(-s.stop // f)) for s, f in zip(region, factors))
        unit, shape = write_unit(self._levels[level]), self._levels[level].shape
        ranges = [range(s.start // u, min(-(-s.stop // u), -(-n // u))) for s, u, n in zip(coarse, unit, shape)]
        return product(*ranges)

    def _reduced(self, level: int, index: tuple[int, ...], below: dict) -> np.ndarray:
        """Unit ``index`` of ``level`` made again from the level below it (already written; its units in
        ``below`` from memory), as the writer makes it: the same label-safe reduction."""
        region = self._unit_region(index, level)
        factors = self._factors[level]
        shape = self._levels[level - 1].shape
        source = tuple(slice(s.start * f, min(s.stop * f, n)) for s, f, n in zip(region, factors, shape))
        reduced = downsample_block(self._pixels(level - 1, source, below), factors, labels=True)
        return reduced[tuple(slice(0, s.stop - s.start) for s in region)]

    def _rebuild(self, level: int, index: tuple[int, ...], below: dict) -> tuple[int | None, np.ndarray]:
        """Make unit ``index`` of ``level`` again from the level below it and write it; return the bytes
        written (None where it stays absent: only the fill value, and no file there) and its pixels."""
        block = self._reduced(level, index, below)
        if not (_array_folder(self._levels[level]) / self._key(level, index)).exists() and not np.any(
            block != fill_value(self._levels[level])
        ):
            return None, block
        data = self._encode(level, index, block)
        self._write(level, index, data)
        return len(data), block

    def _key(self, level: int, index: tuple[int, ...]) -> str:
        return self._levels[level].metadata.encode_chunk_key(index)

    def _encode(self, level: int, index: tuple[int, ...], block: np.ndarray) -> bytes:
        """The bytes of the file of unit ``index`` of ``level`` holding ``block``, as zarr encodes it."""
        twin, encoded_units = self._twins[level]
        twin[self._unit_region(index, level)] = block
        return encoded_units.pop(self._key(level, index)).to_bytes()

    def _decode(self, level: int, index: tuple[int, ...], data: bytes) -> np.ndarray:
        twin, encoded_units = self._twins[level]
        key = self._key(level, index)
        encoded_units[key] = default_buffer_prototype().buffer.from_bytes(data)
        try:
            return twin[self._unit_region(index, level)]
        finally:
            encoded_units.pop(key, None)

    def _write(self, level: int, index: tuple[int, ...], data: bytes) -> None:
        _write_file_atomically(_array_folder(self._levels[level]) / self._key(level, index), data)

    # --- closing ----------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the editor and release its lock. Uncommitted edits are kept in the journal (and said), for
        the next editor to offer back; call :meth:`revert` first to drop them."""
        if self._closed:
            return
        try:
            for assign_pending in self._before_close:
                assign_pending()
            if self._dirty:
                self.save_journal()
                warnings.warn(
                    f"{self.path}: {len(self._dirty)} chunks of uncommitted edits are kept at {self.journal_path}; "
                    "edit_labels on the same path offers them back", UserWarning, stacklevel=2,
                )
        finally:
            self._closed = True
            _OPEN_EDITORS.discard(self)
            self._held.clear()
            self._history.clear()
            self._exit.close()

    def before_close(self, assign_pending) -> None:
        """Have ``assign_pending()`` called first when the editor closes, also when the process ends with it
        open: for edits held elsewhere (a window's pixels) to reach the journal."""
        self._before_close.append(assign_pending)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._dirty)} chunks uncommitted"
        return f"<LabelsEditor {self.path} {self.shape} {self.dtype}, {self.levels} levels, {state}>"

    def _check_open(self) -> None:
        if self._closed:
            raise ZarrTilesError(f"the editor of {self.path} is closed: open it again with edit_labels")


# Editors not yet closed. A script that ends (or dies) with one open has it closed before the interpreter shuts
# down its thread pools (zarr reads and encodes on them), so that its edits reach the journal and its lock goes:
# atexit would run after that shutdown. threading's own hooks run last-registered first, after this module's
# import of concurrent.futures registered its own.
_OPEN_EDITORS: weakref.WeakSet[LabelsEditor] = weakref.WeakSet()


def _close_open_editors() -> None:
    for editor in list(_OPEN_EDITORS):
        try:
            editor.close()
        except Exception as error:  # noqa: BLE001 - the process is ending: say it, and close the others
            warnings.warn(f"{editor.path}: the uncommitted edits could not be kept: {error}", UserWarning, stacklevel=1)


threading._register_atexit(_close_open_editors)


def _level_factors(shapes: list[tuple[int, ...]], where: str) -> list[tuple[int, ...]]:
    """Each level's reduction factor per axis from the level before it (None for level 0)."""
    factors: list = [None]
    for before, after in pairwise(shapes):
        level = tuple(max(1, round(b / a)) for b, a in zip(before, after))
        if any(-(-b // f) != a and b // f != a for b, a, f in zip(before, after, level)):
            raise OmeMetadataError(
                f"{where}: pyramid level of shape {after} is not a whole-number reduction of {before}; "
                "its tiles cannot be rebuilt after an edit (write the labels again with napari-zarr-tiles)"
            )
        factors.append(level)
    return factors


def _region(selection, shape: tuple[int, ...]) -> tuple[tuple[slice, ...], set[int]]:
    """A basic selection as one slice per axis (step 1) and the axes an integer index drops."""
    if not isinstance(selection, tuple):
        selection = (selection,)
    if any(item is Ellipsis for item in selection):
        at = next(i for i, item in enumerate(selection) if item is Ellipsis)
        selection = selection[:at] + (slice(None),) * (len(shape) - len(selection) + 1) + selection[at + 1 :]
    selection = selection + (slice(None),) * (len(shape) - len(selection))
    if len(selection) != len(shape):
        raise IndexError(f"{len(selection)} indices for labels of {len(shape)} dimensions")
    region, dropped = [], set()
    for axis, (item, size) in enumerate(zip(selection, shape)):
        if isinstance(item, slice):
            start, stop, step = item.indices(size)
            if step != 1:
                raise IndexError("labels are edited in boxes: slices with a step are not supported")
            region.append(slice(start, max(start, stop)))
        elif isinstance(item, int | np.integer):
            index = int(item) + size if item < 0 else int(item)
            if not 0 <= index < size:
                raise IndexError(f"index {item} is out of bounds for axis {axis} of size {size}")
            region.append(slice(index, index + 1))
            dropped.add(axis)
        else:
            raise IndexError("labels are edited with integers and slices (boxes), not with arrays of indices")
    return tuple(region), dropped


def _overlap(region: tuple[slice, ...], unit: tuple[slice, ...]):
    """Where ``region`` and ``unit`` overlap: as positions in ``region``'s array and in the unit's block."""
    starts = [max(r.start, u.start) for r, u in zip(region, unit)]
    stops = [min(r.stop, u.stop) for r, u in zip(region, unit)]
    if any(start >= stop for start, stop in zip(starts, stops)):
        return None, None
    inside = tuple(slice(a - r.start, b - r.start) for a, b, r in zip(starts, stops, region))
    local = tuple(slice(a - u.start, b - u.start) for a, b, u in zip(starts, stops, unit))
    return inside, local


def _array_folder(array: zarr.Array) -> Path:
    return Path(array.store.root) / array.path


def _twin(array: zarr.Array) -> tuple[zarr.Array, dict]:
    """The array's double in memory, from a copy of its metadata: it encodes a unit exactly as zarr would on
    disk, which this module then writes itself, atomically. Every unit is encoded, fill values too. Returned
    with the dict its store keeps its keys in, where each encoded unit is then found."""
    folder = _array_folder(array)
    documents = {name: (folder / name).read_bytes() for name in METADATA_FILES if (folder / name).is_file()}
    buffers = {name: default_buffer_prototype().buffer.from_bytes(data) for name, data in documents.items()}
    zarr_format = 3 if "zarr.json" in documents else 2
    twin = zarr.open_array(MemoryStore(buffers), mode="r+", zarr_format=zarr_format)
    return twin.with_config({"write_empty_chunks": True}), buffers


def _write_file_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``target``, flushed to disk, then move it over ``target``: a
    reader (or a crash) sees the old file or the new one, never part of either."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}{TEMPORARY_SUFFIX}")
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise TargetNotWritableError(f"cannot write {target}: {error.strerror}; the chunk on disk is unchanged") from error


def _remove_temporary_files(folder: Path) -> None:
    """Temporary files a killed commit left (never chunks: they were not yet moved into place)."""
    for temporary in folder.rglob(f"*{TEMPORARY_SUFFIX}"):
        temporary.unlink(missing_ok=True)


def _digest(block: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(block).data).digest()  # the fastest of hashlib's here (SHA extensions)


# Threads for encoding and writing chunk files: zarr's codecs and the file system release the GIL.
EDIT_THREADS = 2 * (os.cpu_count() or 1)


def _in_parallel(function, items: list) -> list:
    """``[function(item) for item in items]`` on threads; the first failure is raised."""
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(EDIT_THREADS, len(items))) as pool:
        return list(pool.map(function, items))


def new_labels(
    image_path: str | PathLike, name: str = "labels", *, store: str | PathLike | None = None, dtype="uint32"
) -> LabelsEditor:
    """Create an empty label image for the image at ``image_path`` and open it for editing.

    The labels have the image's shape (without its channel axis), scale, translation and chunks, and a
    pyramid as the writer makes one; no chunk is written (absent chunks read as 0), so nothing of the image's
    size is ever held in memory or on disk.

    Parameters
    ----------
    image_path
        An OME-Zarr image (or a plain zarr array) to label.
    name
        The label image's name: it is created as ``labels/NAME`` inside the image's store.
    store
        A separate store to create the label image in instead (an OME-Zarr label image of its own): for an
        image whose store cannot be written to, or is a plain array.
    dtype
        The labels' integer type.

    Raises
    ------
    TargetExistsError
        If a label image of that name (or ``store``) exists.
    TargetNotWritableError
        If the image's store cannot be written to and no ``store`` was given.
    """
    from ._image import ImageToWrite
    from ._options import WriteOptions
    from ._writing import create_empty, move_into_place, refuse_target

    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise InvalidOptionError("dtype", f"{{dtype}} of labels must be an integer type, not {dtype}")
    if not name or "/" in name or name.startswith("."):
        raise InvalidOptionError("name", f"{{name}} {name!r} cannot name a label image (no '/', no leading '.')")
    if store is None:
        _refuse_read_only_store(image_path, f"its image cannot hold new labels: {SEPARATE_STORE}")
    image = _image_to_label(image_path)
    node = open_readonly(image.where)
    found = _ome.ome_block(node.attrs.asdict()) if isinstance(node, zarr.Group) else None
    version = _ome.check_version(found[0], image.where) if found else ("0.4" if image.levels[0].metadata.zarr_format == 2 else "0.5")
    keep = [axis for axis, described in enumerate(image.axes) if described.type != "channel"]
    chunks = tuple(image.levels[0].chunks[axis] for axis in keep)
    labels = ImageToWrite(
        data=_lazy_zeros(tuple(image.levels[0].shape[axis] for axis in keep), chunks, dtype),
        axes=[image.axes[axis] for axis in keep], name=name,
        scale=[image.scale[axis] for axis in keep], translate=[image.translate[axis] for axis in keep], is_label=True,
    )
    options = WriteOptions(ome_version=version)
    if store is None:
        folder = Path(image.where)
        if found is None:
            raise TargetNotWritableError(
                f"{image.where} is not an OME-Zarr image, so it cannot hold labels: {SEPARATE_STORE}"
            )
        if not os.access(folder, os.W_OK) or (folder / "labels").exists() and not os.access(folder / "labels", os.W_OK):
            raise TargetNotWritableError(f"{image.where} cannot be written to: {SEPARATE_STORE}")
        target = folder / "labels" / name
        with _target_lock(_store_root(folder)):
            if target.exists():
                raise TargetExistsError(f"{target} exists: choose another name, or open it with edit_labels")
            root = zarr.open_group(zarr.storage.LocalStore(folder), mode="r+", zarr_format=options.zarr_format)
            labels_group = root["labels"] if "labels" in root else root.create_group("labels")
            partial = f".{name}.partial-{uuid.uuid4().hex[:8]}"
            try:
                made = labels_group.create_group(partial)
                create_empty(made, labels, options)
                made.attrs[WRITER_MARKER] = SPARSE
                os.replace(folder / "labels" / partial, target)
            except BaseException:
                shutil.rmtree(folder / "labels" / partial, ignore_errors=True)
                raise
            listed = _ome.label_names((_ome.ome_block(labels_group.attrs.asdict()) or (None, {}))[1])
            labels_group.attrs.update(_ome.wrap({"labels": [*listed, name]}, version))
    else:
        target = Path(store)
        refuse_target(target, options)
        partial = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:8]}")
        with _target_lock(target):
            try:
                group = zarr.open_group(zarr.storage.LocalStore(partial), mode="w-", zarr_format=options.zarr_format)
                create_empty(group, labels, options)
                group.attrs[WRITER_MARKER] = SPARSE
                move_into_place(partial, target, overwrite=False)
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
    return edit_labels(target)


def _image_to_label(image_path: str | PathLike) -> ImageSource:
    images = [source for source in find_images(image_path).sources if not source.labels]
    if not images:
        raise ZarrTilesError(f"{fspath(image_path)} holds no image to label")
    if len(images) > 1:
        raise ZarrTilesError(
            f"{fspath(image_path)} holds {len(images)} images: name one of them, " + ", ".join(s.where for s in images)
        )
    return images[0]


def _lazy_zeros(shape: tuple[int, ...], chunks: tuple[int, ...], dtype: np.dtype):
    """A lazy array of zeros: the layout of new labels, never computed."""
    import dask.array as da

    return da.zeros(shape, chunks=chunks, dtype=dtype)
