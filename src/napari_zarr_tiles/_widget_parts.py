"""What the plugin's widgets share: the question before replacing a target, choice boxes and status lines that
keep a dock narrow, a job run in a worker thread with napari's progress bar and a cancel, and the waiting a
script does for a widget's result.
"""

import threading
from pathlib import Path

import napari
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    Label,
    PushButton,
    SpinBox,
)
from psygnal import Signal as Event
from qtpy.QtCore import QObject, Signal

from . import _ome
from ._errors import DamagedStoreError, InvalidOptionError, UnreadableChunkError, WriteCancelled
from ._options import COMPRESSOR_ADVICE, COMPRESSORS, WriteOptions


def ask_to_replace(target: Path) -> bool:
    """Ask, in a Yes/No dialog, whether to replace ``target``, which exists; No is the default.

    The one place a widget or napari's Save through this plugin asks (tests replace it with an answer).
    """
    from qtpy.QtWidgets import QMessageBox

    buttons = QMessageBox.StandardButton
    answer = QMessageBox.question(
        None, "Replace?", f"{target} exists already.\nReplace it? Everything in it will be lost.",
        buttons.Yes | buttons.No, buttons.No,
    )
    return answer == buttons.Yes


def ask_to_replace_in_window(target: Path) -> bool | None:
    """:func:`ask_to_replace`'s answer where a person can be asked (napari's window shown, and this its
    thread); None where nobody can be (a script, a test's hidden viewer, a worker thread)."""
    from qtpy.QtCore import QThread
    from qtpy.QtWidgets import QApplication

    application = QApplication.instance()
    if application is None or QThread.currentThread() != application.thread():
        return None
    if not any(window.isVisible() for window in application.topLevelWidgets()):
        return None
    return ask_to_replace(target)


def choice_box(**kwargs) -> ComboBox:
    """A ComboBox that keeps its dock narrow: Qt widens a combo box to its longest entry, and layer names
    (a result's name holds its steps) or paths can be long enough to squeeze napari's canvas to nothing."""
    from qtpy.QtWidgets import QComboBox

    box = ComboBox(**kwargs)
    box.native.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.native.setMinimumContentsLength(16)
    return box


def status_label() -> Label:
    """A widget's status line: wrapped, so that a long message grows it downwards instead of widening the dock."""
    label = Label(value="")
    label.native.setWordWrap(True)
    return label


class _ProgressRelay(QObject):
    """Carries (done, total) from the worker's dask threads to the GUI thread (a queued Qt connection)."""

    advanced = Signal(int, int)


class BackgroundJob(Container):
    """A widget whose Run button starts a job in a worker thread, with napari's progress bar of tiles
    written, a status line, and a Cancel that stops the job at the next tile."""

    run_text = "Run"
    progress_unit = "tiles"  # what the progress counts
    settled = Event()  # the job has ended: done, failed or cancelled

    def __init__(self, viewer: napari.viewer.Viewer, fields: list):
        self._viewer = viewer
        self._run = PushButton(text=self.run_text)
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._status = status_label()
        super().__init__(widgets=[*fields, self._run, self._cancel, self._status])
        self._run.clicked.connect(self.start)
        self._cancel.clicked.connect(self.cancel)
        self._cancelled = threading.Event()
        self._relay = _ProgressRelay()
        self._relay.advanced.connect(self._show_progress)
        self._progress_bar = None
        self.worker = None
        self._error = None  # why the last job failed
        self._running = False  # from a click until the job is done: a second click meanwhile is refused

    def _make_write_fields(self) -> None:
        """The write options every job here offers: tile edge, compressor, OME-Zarr version, pyramid, overwrite,
        and what a chunk of the source that cannot be read does."""
        self._chunks = SpinBox(label="tile edge", value=1024, min=16, max=16384, step=64)
        # "default" leaves the choice to each image, as the command line does: blosc-zstd, zstd for labels
        self._compressor = ComboBox(label="compressor", choices=[("default", None), *((name, name) for name in COMPRESSORS)],
                                    value=None, tooltip=f"default: blosc-zstd, zstd for labels. {COMPRESSOR_ADVICE}")
        self._version = ComboBox(label="OME-Zarr", choices=list(_ome.SUPPORTED_VERSIONS), value="0.4")
        self._pyramid = CheckBox(label="pyramid", value=True)
        self._overwrite = CheckBox(label="overwrite", value=False)
        self._fill_bad_chunks = CheckBox(
            label="fill bad chunks", value=False,
            tooltip="a chunk of the source that cannot be read is written as the fill value, and the result is "
            "recorded as not clean; unticked, the job stops naming it",
        )

    def _write_options(self, target: Path, **fixed) -> WriteOptions | None:
        """The write options as chosen (and ``fixed``); None, with the reason shown, where one is wrong or
        where ``target`` exists, "overwrite" is not ticked and the person chose not to replace it."""
        try:
            options = WriteOptions(
                tile=self._chunks.value, compressor=self._compressor.value, ome_version=self._version.value,
                with_pyramid=self._pyramid.value, overwrite=self._overwrite.value, **fixed,
            )
        except InvalidOptionError as error:
            words = {"tile": "tile edge", "ome_version": "OME-Zarr", "with_pyramid": "untick 'pyramid'"}
            self._status.value = error.in_words(words)
            return None
        if target.exists() and not options.overwrite:
            if not ask_to_replace(target):
                self._status.value = f"{target.name} exists and was kept: nothing written"
                return None
            options = WriteOptions.of(options, overwrite=True)
        return options

    def start(self) -> None:
        """Start the job in a worker thread, unless one is running (a second click says so and does nothing)."""
        if self._running:
            from napari.utils.notifications import show_info

            show_info(f"{self.run_text}: one is under way; wait for it, or Cancel it first")
            return
        self._running, self.worker, self._error = True, None, None
        try:
            self._start()
        finally:
            self._running = self.worker is not None  # launched: until _done, which runs after this returns

    def _start(self) -> None:
        raise NotImplementedError

    def wait(self, timeout: float = 120.0) -> None:
        """Handle Qt's events until the job started last has ended (for scripts: the demo).

        Raises
        ------
        TimeoutError
            If it is still running after ``timeout`` seconds.
        Exception
            The error it failed with (also shown in the status line); a cancelled job raises nothing.
        """
        settle(self, lambda: self._running, timeout, f"{self.run_text}: not finished")

    def _launch(self, function, *args, description: str, cancelled_message: str, **kwargs) -> None:
        """Run ``function(*args, progress=..., **kwargs)`` in a worker thread; its result goes to _returned."""
        from napari.qt.threading import create_worker
        from napari.utils import progress

        self._cancelled.clear()
        self._progress_bar = progress(total=0, desc=description)

        def report(done: int, total: int) -> None:
            if self._cancelled.is_set():
                raise WriteCancelled(cancelled_message)
            self._relay.advanced.emit(done, total)

        self._run.enabled, self._cancel.enabled = False, True
        self._status.value = f"{description}..."
        # With _connect given, napari starts the worker at once. Our own "errored" handler: without one,
        # napari re-raises the worker's error in the GUI thread.
        self.worker = create_worker(
            function, *args, progress=report, **kwargs,
            _connect={"returned": self._returned, "errored": self._failed, "finished": self._done},
        )

    def _returned(self, result) -> None:
        raise NotImplementedError

    def cancel(self) -> None:
        """Stop the job at the next tile."""
        self._cancelled.set()
        self._status.value = "cancelling..."

    def _show_progress(self, done: int, total: int) -> None:
        if self._progress_bar is not None:
            self._progress_bar.total = total
            self._progress_bar.n = done
            self._progress_bar.refresh()
        self._status.value = f"{done}/{total} {self.progress_unit}"

    def _chosen(self, field: FileEdit, what: str) -> Path | None:
        """The path in ``field``; None, saying to choose ``what``, while it is empty (a FileEdit then gives
        ``Path('.')``, the working folder, which a write must never take for its target)."""
        if not field.line_edit.value.strip():
            self._status.value = f"choose {what}"
            return None
        return Path(field.value)

    def _bad_chunks(self) -> str:
        return "fill" if self._fill_bad_chunks.value else "raise"

    def _failed(self, error: Exception) -> None:
        if isinstance(error, UnreadableChunkError | DamagedStoreError):
            error = type(error)(f"{error}; tick 'fill bad chunks' to write the fill value in their place")
        self._status.value = str(error) if isinstance(error, WriteCancelled) else f"failed: {error}"
        if not isinstance(error, WriteCancelled):
            from napari.utils.notifications import show_error

            self._error = error
            show_error(f"{self.run_text}: {error}")

    def _done(self) -> None:
        if self._progress_bar is not None:
            self._progress_bar.close()
            self._progress_bar = None
        self._run.enabled, self._cancel.enabled = True, False
        self._running = False
        self.settled.emit()


def choose_layer(field: ComboBox, layer) -> None:
    """Set a layer field to ``layer`` (unless None) for a script, refusing a layer it does not offer."""
    if layer is not None:
        if layer not in field.choices:
            raise ValueError(f"{getattr(layer, 'name', layer)!r} is not offered as {field.label}")
        field.value = layer


def settle(widget, busy, timeout: float, missing: str) -> None:
    """Wait while ``busy()`` for a widget that emits ``settled`` when its newest request is done or failed,
    Qt's events handled meanwhile; then raise its ``_error``, or TimeoutError saying ``missing`` if it is
    still busy after ``timeout`` seconds."""
    if busy():
        wait_for(widget.settled, timeout)
    if widget._error is not None:
        raise widget._error
    if busy():
        raise TimeoutError(f"{missing} after {timeout:g} s")


def wait_for(signal, timeout: float) -> None:
    """Handle Qt's events until ``signal`` is emitted, or for at most ``timeout`` seconds."""
    from qtpy.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    timer = QTimer(singleShot=True)
    timer.timeout.connect(loop.quit)
    signal.connect(loop.quit, check_nargs=False)
    timer.start(int(timeout * 1000))
    try:
        loop.exec()
    finally:
        timer.stop()
        signal.disconnect(loop.quit)


def short_name(name: str, length: int = 40) -> str:
    """A layer name cut to fit the status line, which would otherwise widen the dock."""
    return name if len(name) <= length else name[: length - 1] + "…"
