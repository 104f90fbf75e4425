"""magicgui widgets: the only module that touches Qt.

"Convert to zarr tiles": choose a file, convert it in a worker thread with napari's progress bar and a
cancel that stops it (leaving nothing behind), then open the result.
"""

import threading
from pathlib import Path

import napari
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, PushButton, SpinBox
from qtpy.QtCore import QObject, Signal

from ._errors import ZarrTilesError
from ._writer import COMPRESSORS


class ConversionCancelled(ZarrTilesError):
    """Raised inside a conversion when the person pressed Cancel."""


class _ProgressRelay(QObject):
    """Carries (done, total) from the worker's dask threads to the GUI thread (a queued Qt connection)."""

    advanced = Signal(int, int)


class ConvertWidget(Container):
    """Convert a TIFF or zarr store to tiled OME-Zarr with a pyramid, in the background."""

    def __init__(self, viewer: napari.viewer.Viewer):
        self._viewer = viewer
        self._source = FileEdit(label="source", mode="r", filter="*.tif *.tiff *.btf")
        self._target = FileEdit(label="target (.zarr)", mode="w", filter="*.zarr")
        self._chunks = SpinBox(label="tile edge", value=1024, min=16, max=16384, step=64)
        self._compressor = ComboBox(label="compressor", choices=COMPRESSORS, value="blosc-zstd")
        self._version = ComboBox(label="OME-Zarr", choices=["0.4", "0.5"], value="0.4")
        self._pyramid = CheckBox(label="pyramid", value=True)
        self._overwrite = CheckBox(label="overwrite", value=False)
        self._run = PushButton(text="Convert")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._status = Label(value="")
        super().__init__(
            widgets=[self._source, self._target, self._chunks, self._compressor, self._version, self._pyramid,
                     self._overwrite, self._run, self._cancel, self._status]
        )
        self._source.changed.connect(self._suggest_target)
        self._run.clicked.connect(self.start)
        self._cancel.clicked.connect(self.cancel)
        self._cancelled = threading.Event()
        self._relay = _ProgressRelay()
        self._relay.advanced.connect(self._show_progress)
        self._progress_bar = None
        self.worker = None

    def _suggest_target(self, source: Path) -> None:
        source = Path(source)
        stem = source.name.split(".")[0] if source.name else ""
        if stem:
            self._target.value = source.with_name(f"{stem}.ome.zarr")

    def start(self) -> None:
        """Start the conversion in a worker thread."""
        from napari.qt.threading import create_worker
        from napari.utils import progress

        from ._convert import convert

        self._cancelled.clear()
        source, target = Path(self._source.value), Path(self._target.value)
        self._progress_bar = progress(total=0, desc=f"Converting {source.name}")

        def report(done: int, total: int) -> None:
            if self._cancelled.is_set():
                raise ConversionCancelled(f"conversion of {source} cancelled; nothing was written")
            self._relay.advanced.emit(done, total)

        self._run.enabled, self._cancel.enabled = False, True
        self._status.value = "converting..."
        # With _connect given, napari starts the worker at once.
        self.worker = create_worker(
            convert, source, target, tile=self._chunks.value, compressor=self._compressor.value,
            ome_version=self._version.value, with_pyramid=self._pyramid.value, overwrite=self._overwrite.value,
            progress=report,
            # Our own "errored" handler: without one, napari re-raises the worker's error in the GUI thread.
            _connect={"returned": self._opened, "errored": self._failed, "finished": self._done},
        )

    def cancel(self) -> None:
        """Stop the conversion at the next tile; the partial store is removed."""
        self._cancelled.set()
        self._status.value = "cancelling..."

    def _show_progress(self, done: int, total: int) -> None:
        if self._progress_bar is not None:
            self._progress_bar.total = total
            self._progress_bar.n = done
            self._progress_bar.refresh()
        self._status.value = f"{done}/{total} tiles"

    def _opened(self, path: str) -> None:
        self._status.value = f"wrote {path}"
        self._viewer.open(path, plugin="napari-zarr-tiles")

    def _failed(self, error: Exception) -> None:
        self._status.value = str(error) if isinstance(error, ConversionCancelled) else f"failed: {error}"
        if not isinstance(error, ConversionCancelled):
            from napari.utils.notifications import show_error

            show_error(f"Convert to zarr tiles: {error}")

    def _done(self) -> None:
        if self._progress_bar is not None:
            self._progress_bar.close()
            self._progress_bar = None
        self._run.enabled, self._cancel.enabled = True, False
