"""magicgui widgets: the only module that touches Qt.

"Convert to zarr tiles": choose a file, convert it in a worker thread with napari's progress bar and a
cancel that stops it (leaving nothing behind), then open the result.
"Tile filter": run a filter on an image layer; the result is a new lazy layer, computed tile by tile only
where the screen looks, and updated as the parameters change. A result chosen as the input chains: a new
layer with both steps is added next to it, and the input result stays.
"Save result to zarr": stream a filter result at full resolution, with its pyramid, into OME-Zarr, with
progress and a cancel that keeps what was written for the next Save to resume; the layer then reads the store
and can be saved again, or chained on.
"Segment": a threshold then labels, or Voronoi-Otsu, as a lazy labels layer with the whole image's ids
(saved like any result). "Measure": a labels layer's object table in its features, shown as a table whose
rows and the objects select each other, colours by a column, CSV export.
A Save or Convert onto an existing target asks whether to replace it (``ask_to_replace``), as napari's own
Save through this plugin's writer does.
"""

import threading
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import napari
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
    SpinBox,
)
from psygnal import Signal as Event
from qtpy.QtCore import QAbstractTableModel, QObject, Qt, Signal

from . import _ome
from ._errors import DamagedStoreError, InvalidOptionError, UnreadableChunkError, WriteCancelled
from ._image import ImageToWrite
from ._options import COMPRESSOR_ADVICE, COMPRESSORS, WriteOptions
from ._writer import image_from_layer

RECIPE = "napari-zarr-tiles"  # the layer.metadata key of a filter result's recipe


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


def _status_label() -> Label:
    """A widget's status line: wrapped, so that a long message grows it downwards instead of widening the dock."""
    label = Label(value="")
    label.native.setWordWrap(True)
    return label


class _ProgressRelay(QObject):
    """Carries (done, total) from the worker's dask threads to the GUI thread (a queued Qt connection)."""

    advanced = Signal(int, int)


class _BackgroundJob(Container):
    """A widget whose Run button starts a job in a worker thread, with napari's progress bar of tiles
    written, a status line, and a Cancel that stops the job at the next tile."""

    run_text = "Run"
    progress_unit = "tiles"  # what the progress counts
    settled = Event()  # the job has ended: done, failed or cancelled

    def __init__(self, viewer: napari.viewer.Viewer, fields: list):
        self._viewer = viewer
        self._run = PushButton(text=self.run_text)
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._status = _status_label()
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
        _settle(self, lambda: self._running, timeout, f"{self.run_text}: not finished")

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


class ConvertWidget(_BackgroundJob):
    """Convert a TIFF or zarr store to tiled OME-Zarr with a pyramid, in the background."""

    run_text = "Convert"

    def __init__(self, viewer: napari.viewer.Viewer):
        self._source = FileEdit(label="source", mode="r", filter="*.tif *.tiff *.btf")
        self._target = FileEdit(label="target (.zarr)", mode="w", filter="*.zarr")
        self._axes = LineEdit(
            label="axes", tooltip="optional: a TIFF's axes, one letter per dimension in its order (T, C, Z, Y, X), "
            "replacing those it declares, e.g. ZYX for an ImageJ stack of z planes read as time",
        )
        self._make_write_fields()
        super().__init__(viewer, [self._source, self._target, self._axes, self._chunks, self._compressor,
                                  self._version, self._pyramid, self._overwrite, self._fill_bad_chunks])
        self._source.changed.connect(self._suggest_target)

    def _source_given(self) -> str | Path | None:
        """The source as typed: a URL kept as text (a FileEdit's Path makes "https://" "https:/"), else a path."""
        from ._location import locate

        text = self._source.line_edit.value.strip()
        if text and locate(text).remote:
            return text
        return self._chosen(self._source, "a source file (TIFF or zarr), or a zarr store's URL")

    def _suggest_target(self, _=None) -> None:
        """A target beside a local source; in the working folder for a URL (remote stores are read-only)."""
        from ._location import locate

        text = self._source.line_edit.value.strip()
        if not text:
            return
        where = locate(text)
        stem = where.name.split(".")[0]
        if stem:
            folder = Path.cwd() if where.remote else where.path.parent
            self._target.value = folder / f"{stem}.ome.zarr"

    def _start(self) -> None:
        """Start the conversion in a worker thread; a cancel removes the partial store."""
        from ._convert import convert
        from ._location import locate

        source = self._source_given()
        target = source and self._chosen(self._target, "a target (.zarr)")
        if target is None:
            return
        options = self._write_options(target)
        if options is None:
            return
        self._launch(
            convert, source, target, options=options, bad_chunks=self._bad_chunks(), axes=self._axes.value.strip() or None,
            description=f"Converting {locate(source).name}",
            cancelled_message=f"conversion of {source} cancelled; nothing was written",
        )

    def _returned(self, path: str) -> None:
        self._status.value = f"wrote {path}"
        self._viewer.open(path, plugin="napari-zarr-tiles")


@dataclass(frozen=True)
class Recipe:
    """How a filter result layer was made: its source image (lazy, all levels), the filter steps, the path
    the source layer was opened from (None for a layer made in memory), which a save records, and the store
    the result was last saved to (None before a save), which the layer then reads.

    The one thing a result layer's metadata holds under ``RECIPE``, before and after a save, so that a saved
    result is listed for another save and a filter on it chains onto its steps.
    """

    source: ImageToWrite
    steps: list[tuple[str, dict]]
    origin: str | None = None
    saved: str | None = None


class TileFilterWidget(Container):
    """Run a filter on an image layer: the result is a new lazy layer that follows the parameters.

    For scripts (the demo): :meth:`choose` a filter and its parameters, :meth:`apply`, then :meth:`wait`
    for the result layer.
    """

    settled = Event()  # the newest request's result is shown, or it failed

    def __init__(self, viewer: napari.viewer.Viewer):
        from .tiles import FILTERS
        from .tiles._cache import DEFAULT_BUDGET, TileCache

        self._viewer = viewer
        self._layer = choice_box(label="image", choices=self._image_layers)
        self._filter = ComboBox(label="filter", choices=list(FILTERS), value="gaussian")
        self._parameters = Container(labels=True)
        self._cache_mb = SpinBox(label="cache (MB)", value=DEFAULT_BUDGET // 2**20, min=0, max=1_000_000, step=128,
                                 tooltip="memory kept for computed tiles, so that panning back does not recompute")
        self._run = PushButton(text="Apply")
        self._status = _status_label()
        super().__init__(widgets=[self._layer, self._filter, self._parameters, self._cache_mb, self._run, self._status])
        self.cache = TileCache()
        self._cache_mb.changed.connect(lambda megabytes: setattr(self.cache, "budget", megabytes * 2**20))
        self.result_layer = None
        self._result_input = None  # the input layer result_layer was made from: the result follows it
        self._latest = None  # the recipe of the newest request; older ones arriving late are dropped
        self._requested_from = None  # the newest request's input layer
        self._error = None  # why the newest request failed
        self._warned: set[tuple] = set()  # input and result problems already said (each is said once)
        self.worker = None
        self._show_parameters()
        self._filter.changed.connect(self._show_parameters)
        self._filter.changed.connect(self._follow)
        self._run.clicked.connect(self.apply)
        viewer.layers.events.inserted.connect(self._layer.reset_choices)
        viewer.layers.events.removed.connect(self._layer.reset_choices)

    def _image_layers(self, widget=None) -> list:
        """Image layers, filter results among them (a filter on a result chains onto its steps)."""
        return [layer for layer in self._viewer.layers if isinstance(layer, napari.layers.Image)]

    def choose(self, name: str, layer=None, **params) -> None:
        """Choose filter ``name``, its parameters (others keep their values) and, if given, the input layer.

        Raises
        ------
        ValueError
            If the filter, a parameter or the layer is not one offered.
        """
        from .tiles import get_filter

        flt = get_filter(name)
        unknown = set(params) - {parameter.name for parameter in flt.parameters}
        if unknown:
            raise ValueError(f"filter {name!r} has no parameter {sorted(unknown)}")
        _choose_layer(self._layer, layer)
        self._filter.value = name
        for parameter, value in params.items():
            getattr(self._parameters, parameter).value = value

    def _show_parameters(self) -> None:
        from .tiles import get_filter

        self._parameters.clear()
        for parameter in get_filter(self._filter.value).parameters:
            widget = _parameter_widget(parameter)
            widget.changed.connect(self._follow)
            self._parameters.append(widget)
        self._enable_used_parameters()

    def _enable_used_parameters(self) -> None:
        """Grey out parameters that do not matter for the current choices (a threshold's value unless its
        method is "value")."""
        from .tiles import get_filter

        values = {widget.name: widget.value for widget in self._parameters}
        for parameter in get_filter(self._filter.value).parameters:
            getattr(self._parameters, parameter.name).enabled = parameter.used(values)

    @property
    def steps(self) -> list[tuple[str, dict]]:
        return [(self._filter.value, {widget.name: widget.value for widget in self._parameters})]

    def _follow(self) -> None:
        """A parameter or the filter changed: the result layer, once there, follows (made from this input)."""
        self._enable_used_parameters()
        if self._following() and self._result_input is self._layer.value:
            self.apply()

    def _following(self) -> bool:
        return self.result_layer is not None and self.result_layer in self._viewer.layers

    def apply(self) -> None:
        """Build the lazy result in a worker thread (a threshold's histogram is computed there), then show it."""
        from napari.qt.threading import create_worker

        layer = self._layer.value
        if layer is None:
            self._status.value = "choose an image layer"
            return
        recipe = _recipe_for(layer, self.steps)
        self._status.value = "computing..."
        self._latest, self._requested_from, self._error = recipe, layer, None
        self.worker = create_worker(
            _lazy_result, recipe, self.cache,
            _connect={"returned": self._show, "errored": partial(self._failed, recipe)},
            # napari's busy bar: a threshold reads every tile of its level for the histogram first
            _progress={"total": 0, "desc": f"Tile filter: {self._filter.value}"},
        )

    def wait(self, timeout: float = 120.0):
        """The result layer of the newest :meth:`apply`, once shown, Qt's events handled meanwhile.

        Raises
        ------
        TimeoutError
            If the result is not there after ``timeout`` seconds.
        Exception
            The error the filter failed with (also shown in the status line).
        """
        _settle(self, lambda: self._latest is not None, timeout, f"Tile filter: no result of {self._filter.value}")
        return self.result_layer

    def _show(self, made) -> None:
        recipe, image, contrast, steps_run, problems = made
        if recipe is not self._latest:  # parameters changed while this one was built: the newer one follows
            return
        self._latest = None
        source = self._requested_from
        if source not in self._viewer.layers:  # removed while its result was built: nothing to lay it over
            self._status.value = f"{_short(source.name)} was removed: its result is not added"
            self.settled.emit()
            return
        metadata = {RECIPE: recipe}
        lines = []
        if self._following() and self._result_input is source:
            layer = self.result_layer
            if isinstance(layer, napari.layers.Labels) == image.is_label:
                layer.data = image.data
                layer.name = image.name
                layer.metadata = metadata
                if contrast is not None:
                    layer.contrast_limits = contrast
                lines.append(f"updated {_short(layer.name)}")
            else:
                self._viewer.layers.remove(layer)
        if not lines:  # a new result, next to its input (a result chained on stays as it was)
            layer = _add_result_layer(self._viewer, image, contrast, metadata, source)
            self.result_layer, self._result_input = layer, source
            lines.append(f"added {_short(image.name)}")
        lines += _computed_values(steps_run)
        lines += self._warn_once(problems)
        self._status.value = "\n".join(lines)
        self.settled.emit()

    def _warn_once(self, problems: list[tuple[tuple, str]]) -> list[str]:
        """Each problem of an input or its result, said in a napari notification the first time it comes."""
        from napari.utils.notifications import show_warning

        said = []
        for key, message in problems:
            if key not in self._warned:
                self._warned.add(key)
                show_warning(f"Tile filter: {message}")
                said.append(message)
        return said

    def _failed(self, recipe: Recipe, error: Exception) -> None:
        from napari.utils.notifications import show_error

        if recipe is not self._latest:  # a request superseded by a newer one: that one's outcome is said
            return
        self._latest, self._error = None, error
        self._status.value = f"failed: {error}"
        show_error(f"Tile filter: {error}")
        self.settled.emit()


def _choose_layer(field: ComboBox, layer) -> None:
    """Set a layer field to ``layer`` (unless None) for a script, refusing a layer it does not offer."""
    if layer is not None:
        if layer not in field.choices:
            raise ValueError(f"{getattr(layer, 'name', layer)!r} is not offered as {field.label}")
        field.value = layer


def _settle(widget, busy, timeout: float, missing: str) -> None:
    """Wait while ``busy()`` for a widget that emits ``settled`` when its newest request is done or failed,
    Qt's events handled meanwhile; then raise its ``_error``, or TimeoutError saying ``missing`` if it is
    still busy after ``timeout`` seconds."""
    if busy():
        _wait_for(widget.settled, timeout)
    if widget._error is not None:
        raise widget._error
    if busy():
        raise TimeoutError(f"{missing} after {timeout:g} s")


def _wait_for(signal, timeout: float) -> None:
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


def _parameter_widget(parameter):
    """The field for a registered filter's ``parameter``: a choice, a whole number or a number, at its default."""
    if parameter.choices:
        return ComboBox(name=parameter.name, choices=parameter.choices, value=parameter.default, tooltip=parameter.doc)
    if parameter.integer:
        return SpinBox(name=parameter.name, value=parameter.default, min=parameter.minimum, max=parameter.maximum,
                       tooltip=parameter.doc)
    return FloatSpinBox(
        name=parameter.name, value=parameter.default, step=0.5,
        min=max(parameter.minimum, -1e9), max=min(parameter.maximum, 1e9), tooltip=parameter.doc,
    )


def _recipe_for(layer, steps: list[tuple[str, dict]]) -> Recipe:
    """The recipe of ``steps`` run on image ``layer``: on a result (saved or not), chained onto its steps
    from its source."""
    earlier = layer.metadata.get(RECIPE)
    if isinstance(earlier, Recipe):
        return Recipe(earlier.source, [*earlier.steps, *steps], earlier.origin)
    data, meta, _ = layer.as_layer_data_tuple()
    source = image_from_layer(data, meta)
    return Recipe(replace(source, data=_levels_to_filter(layer, source)), steps, layer.source.path)


def _add_result_layer(viewer: napari.viewer.Viewer, image: ImageToWrite, contrast, metadata: dict, source):
    """A new layer showing result ``image``, placed just above its input layer ``source``."""
    common = {"name": image.name, "scale": image.scale, "translate": image.translate,
              "metadata": metadata, "multiscale": isinstance(image.data, list)}
    if image.is_label:
        layer = viewer.add_labels(image.data, **common)
    else:
        layer = viewer.add_image(image.data, contrast_limits=contrast, **common)
    if source in viewer.layers:
        viewer.layers.move(viewer.layers.index(layer), viewer.layers.index(source) + 1)
    return layer


def _levels_to_filter(layer, source: ImageToWrite):
    """The layer's pyramid levels; for a big single-scale layer, lazy levels made from it as the reader
    makes them, so that the result too is computed at the zoom on screen, not at full resolution."""
    import dask.array as da

    from ._reader import display_levels

    if layer.multiscale:
        # channels first, as image_from_layer puts them for an RGB layer
        return [da.moveaxis(da.asarray(level), -1, 0) if layer.rgb else level for level in layer.data]
    data = da.asarray(source.data)
    levels = display_levels(data, list(range(data.ndim))[-2:])
    return levels if len(levels) > 1 else source.data


def _short(name: str, length: int = 40) -> str:
    """A layer name cut to fit the status line, which would otherwise widen the dock."""
    return name if len(name) <= length else name[: length - 1] + "…"


def _lazy_result(recipe: Recipe, cache, preview: bool = True) -> tuple:
    """The result layer's lazy levels (each block cached once computed), its contrast limits, the steps as
    run (a threshold's value: the preview's, from the coarsest level, unless ``preview`` is False), and what
    is wrong with its input or itself (all NaN, constant, infinite values), from the bounded samples its
    contrast is taken from."""
    from ._display import contrast_limits, sample, sample_problem
    from .tiles._cache import cached
    from .tiles._result import filtered

    image, steps = filtered(recipe.source, recipe.steps, preview=preview)
    levels = image.data if isinstance(image.data, list) else [image.data]
    levels = [cached(level, cache) for level in levels]
    result_sample = sample(levels[-1])
    contrast = None if image.is_label else contrast_limits(result_sample)
    data = levels if isinstance(image.data, list) else levels[0]
    source = recipe.source.data[-1] if isinstance(recipe.source.data, list) else recipe.source.data
    # each said once per input: a result's name changes with every parameter, its problem rarely does
    problems = [
        ((which, recipe.source.name, problem), f"{which} {name}: {problem}")
        for which, name, values in (("input", recipe.source.name, sample(source)), ("result", image.name, result_sample))
        if (problem := sample_problem(values)) is not None
    ]
    return recipe, replace(image, data=data), contrast, steps, problems


def _computed_values(steps) -> list[str]:
    """A line for each value a step computed from the image (a threshold's), as the preview has it."""
    from .tiles import get_filter

    lines = []
    for filter_name, params in steps:
        flt = get_filter(filter_name)
        for parameter in flt.parameters:
            if parameter.name in flt.computed and not parameter.used(params):
                lines.append(
                    f"{filter_name} {parameter.name} {params[parameter.name]:.6g} (the preview's, from the "
                    "coarsest level; Save computes it at full resolution)"
                )
    return lines


class SaveResultWidget(_BackgroundJob):
    """Save a filter result layer at full resolution, with its pyramid, as OME-Zarr; then show the store."""

    run_text = "Save"

    def __init__(self, viewer: napari.viewer.Viewer):
        self._viewer = viewer  # the layer choices below read it
        self._layer = choice_box(label="result", choices=self._result_layers)
        self._target = FileEdit(label="target (.zarr)", mode="w", filter="*.zarr")
        self._make_write_fields()
        self._scheduler = LineEdit(label="dask scheduler", value="", tooltip="optional: tcp://host:8786")
        self._workers = SpinBox(
            label="local workers", value=0, min=0, max=256,
            tooltip="0: threads in this process; N: a local dask.distributed cluster of N processes",
        )
        super().__init__(viewer, [self._layer, self._target, self._chunks, self._compressor, self._version,
                                  self._scheduler, self._workers, self._pyramid, self._overwrite,
                                  self._fill_bad_chunks])
        viewer.layers.events.inserted.connect(self._layer.reset_choices)
        viewer.layers.events.removed.connect(self._layer.reset_choices)
        self._saving = None

    def _result_layers(self, widget=None) -> list:
        return [layer for layer in self._viewer.layers if isinstance(layer.metadata.get(RECIPE), Recipe)]

    def _start(self) -> None:
        """Save in a worker thread; a cancel keeps what was written, and the next Save resumes it."""
        layer = self._layer.value
        if layer is None:
            self._status.value = "no filter result to save: use Tile filter first"
            return
        recipe = layer.metadata[RECIPE]
        target = self._chosen(self._target, "a target (.zarr)")
        if target is None:
            return
        if recipe.origin is not None and Path(recipe.origin).resolve() == target.resolve():
            self._status.value = f"{target.name} is the image this result is made from: choose another target"
            return
        options = self._write_options(target)
        if options is None:
            return
        self._saving = (layer, recipe, target)
        self._launch(
            _save, recipe, target, self._scheduler.value.strip() or None, self._workers.value or None,
            options=options, bad_chunks=self._bad_chunks(), description=f"Saving {layer.name}",
            cancelled_message=f"save to {target} cancelled",
        )

    def _failed(self, error: Exception) -> None:
        if isinstance(error, WriteCancelled) and self._saving is not None:
            # a cancel during a label save's first pass (before any tile is written) keeps nothing
            from ._options import partial_path

            kept = partial_path(self._saving[2]).exists()
            error = WriteCancelled(f"{error}; {'Save again to resume it' if kept else 'nothing was written'}")
        super()._failed(error)

    def _returned(self, path: str) -> None:
        """The layer now reads the saved store, level by level."""
        from ._reader import layer_data

        data = layer_data(path)[0][0]
        layer, recipe, _ = self._saving
        saved = replace(recipe, saved=path)  # still the recipe: the layer can be saved again, or chained on
        if layer in self._viewer.layers:
            if isinstance(data, list) == layer.multiscale:
                layer.data = data
                layer.metadata = {RECIPE: saved}
            else:  # saved without a pyramid: a layer of another kind (single-scale) reads the store
                index = self._viewer.layers.index(layer)
                self._viewer.layers.remove(layer)
                for opened in self._viewer.open(path, plugin="napari-zarr-tiles"):
                    opened.metadata = {**opened.metadata, RECIPE: saved}
                    self._viewer.layers.move(self._viewer.layers.index(opened), index)
                self._layer.reset_choices()  # the layer read from the store is a result now
        self._status.value = f"wrote {path}"


def _save(recipe: Recipe, target: Path, scheduler: str | None, workers: int | None, **options) -> str:
    from ._jobs import cluster, save_viewed

    with cluster(scheduler=scheduler, workers=None if scheduler else workers) as client:
        return save_viewed(recipe.source, recipe.steps, target, origin=recipe.origin, client=client, **options)


THRESHOLD_METHODS = ("otsu", "li", "triangle", "value")
SPLIT = "voronoi_otsu"  # the registered step that splits touching objects, making labels itself


class SegmentWidget(Container):
    """Segment an image layer: a threshold (a method's, from the whole image, or a value) then labelling
    across tiles, or Voronoi-Otsu labelling (touching nuclei split). The result is a lazy labels layer whose
    ids are the whole image's (the labelling's first pass runs over every tile of level 0, in a worker
    thread, with napari's busy bar); its recipe lets "Save result to zarr" save it with progress, cancel and
    resume.
    """

    settled = Event()  # the newest Apply's layer is shown, or it failed

    def __init__(self, viewer: napari.viewer.Viewer):
        from .tiles import get_filter
        from .tiles._cache import TileCache

        self._viewer = viewer
        self._layer = choice_box(label="image", choices=self._image_layers)
        self._method = ComboBox(label="method", choices=(*THRESHOLD_METHODS, SPLIT), value="otsu",
                                tooltip=f"a threshold, then labels; or {SPLIT}: touching nuclei split")
        self._value = FloatSpinBox(label="value", value=0.0, min=-1e9, max=1e9, step=1.0, enabled=False)
        self._polarity = ComboBox(label="objects are", choices=("brighter", "darker"), value="brighter")
        self._connectivity = SpinBox(label="connectivity", value=0, min=0, max=3,
                                     tooltip="1: pixels sharing a face touch; up to the number of axes: a corner; "
                                             "0: all axes (scikit-image's default)")
        self._split = Container(labels=True, visible=False,
                                widgets=[_parameter_widget(parameter) for parameter in get_filter(SPLIT).parameters])
        self._run = PushButton(text="Apply")
        self._status = _status_label()
        super().__init__(widgets=[self._layer, self._method, self._value, self._polarity, self._connectivity,
                                  self._split, self._run, self._status])
        self.cache = TileCache()
        self.result_layer = None
        self.worker = None
        self._error = None
        self._method.changed.connect(self._show_fields)
        self._run.clicked.connect(self.apply)
        viewer.layers.events.inserted.connect(self._layer.reset_choices)
        viewer.layers.events.removed.connect(self._layer.reset_choices)

    def _image_layers(self, widget=None) -> list:
        return [layer for layer in self._viewer.layers if isinstance(layer, napari.layers.Image)]

    def choose(self, method: str, layer=None, **params) -> None:
        """Choose ``method`` (a threshold method or SPLIT), its fields by name (value, polarity,
        connectivity, or the split's parameters; others keep their values) and, if given, the input layer.

        Raises
        ------
        ValueError
            If the method, a field or the layer is not one offered.
        """
        if method not in self._method.choices:
            raise ValueError(f"Segment has no method {method!r}: choose one of {', '.join(self._method.choices)}")
        if method == SPLIT:
            fields = {field.name: field for field in self._split}
        else:
            fields = {"value": self._value, "polarity": self._polarity, "connectivity": self._connectivity}
        if set(params) - set(fields):
            raise ValueError(f"Segment's {method} has no field {sorted(set(params) - set(fields))}: "
                             f"it has {sorted(fields)}")
        _choose_layer(self._layer, layer)
        self._method.value = method
        for name, value in params.items():
            fields[name].value = value

    def _show_fields(self, method: str) -> None:
        """The fields of the chosen method: a threshold's (its value only for "value"), or the split's."""
        for field in (self._polarity, self._connectivity):
            field.visible = method != SPLIT
        self._value.visible, self._value.enabled = method != SPLIT, method == "value"
        self._split.visible = method == SPLIT

    @property
    def steps(self) -> list[tuple[str, dict]]:
        if self._method.value == SPLIT:
            return [(SPLIT, {field.name: field.value for field in self._split})]
        threshold = {"method": self._method.value, "value": self._value.value, "polarity": self._polarity.value}
        return [("threshold", threshold), ("label", {"connectivity": self._connectivity.value})]

    def apply(self) -> None:
        """Label the chosen image in a worker thread, then show the labels; refused while one is under way."""
        from napari.qt.threading import create_worker

        if self.worker is not None:
            from napari.utils.notifications import show_info

            show_info("Segment: one is under way; wait for it to finish")
            return
        layer = self._layer.value
        if layer is None:
            self._status.value = "choose an image layer"
            return
        from ._ome import filter_axes

        recipe = _recipe_for(layer, self.steps)
        spatial = len(filter_axes(recipe.source.axes))
        if self._method.value != SPLIT and self._connectivity.value > spatial:
            self._status.value = (f"connectivity {self._connectivity.value} is more than the {spatial} spatial axes of "
                                  f"{_short(layer.name)}: choose 1 to {spatial}, or 0 for all")
            return
        self._error = None
        self._status.value = "labelling the whole image, tile by tile..."
        # Not a preview: the threshold and the labels are the whole image's, as Save writes them.
        self.worker = create_worker(
            _lazy_result, recipe, self.cache, preview=False,
            _connect={"returned": partial(self._show, layer), "errored": self._failed, "finished": self._finished},
            _progress={"total": 0, "desc": "Segment: labelling"},
        )

    def wait(self, timeout: float = 120.0):
        """The labels layer of the running :meth:`apply`, once shown, Qt's events handled meanwhile.

        Raises
        ------
        TimeoutError
            If it is not there after ``timeout`` seconds.
        Exception
            The error the segmentation failed with (also shown in the status line).
        """
        _settle(self, lambda: self.worker is not None, timeout, "Segment: no labels")
        return self.result_layer

    def _show(self, source, made) -> None:
        recipe, image, contrast, _, _ = made
        self.result_layer = _add_result_layer(self._viewer, image, contrast, {RECIPE: recipe}, source)
        self._status.value = f"added {_short(image.name)}"

    def _failed(self, error: Exception) -> None:
        from napari.utils.notifications import show_error

        self._error = error
        self._status.value = f"failed: {error}"
        show_error(f"Segment: {error}")

    def _finished(self) -> None:
        self.worker = None
        self.settled.emit()


NO_COLOUR_COLUMN = "(label colours)"


class MeasureWidget(_BackgroundJob):
    """Measure the objects of a labels layer (and an image layer's intensities in them) in the background:
    the table fills the layer's ``features`` and is shown; a row clicked centres the view on its object and
    selects it, an object clicked selects its row; objects can be coloured by a column; Export CSV saves it.
    """

    run_text = "Measure"
    progress_unit = "tiles"

    def __init__(self, viewer: napari.viewer.Viewer):
        from qtpy.QtWidgets import QAbstractItemView, QTableView

        self._viewer = viewer  # the layer choices below read it
        self.frame = None  # the table shown (scikit-image's columns); the colour choices read it
        self.measured_layer = None  # the labels layer it is of
        self._label_layer = choice_box(label="labels", choices=self._labels_layers)
        self._intensity = choice_box(label="intensity", choices=self._image_layers, nullable=True, value=None)
        self._colour_by = choice_box(label="colour by", choices=self._colour_columns)
        self._only_selected = CheckBox(label="show only the selected object", value=False)
        self._export = PushButton(text="Export CSV", enabled=False)
        super().__init__(viewer, [self._label_layer, self._intensity])
        self.extend([self._colour_by, self._only_selected, self._export])
        self.table = QTableView()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.clicked.connect(lambda index: self.go_to_row(index.row()))
        self.native.layout().addWidget(self.table)
        self._rows: dict[int, int] = {}  # label -> row
        self._plain_colormap = None  # the measured layer's colours before "colour by"
        self._measuring = None
        self._colour_by.changed.connect(self.colour_by)
        self._only_selected.changed.connect(self._show_only_selected)
        self._export.clicked.connect(self.export_csv)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
            event.connect(self._label_layer.reset_choices)
            event.connect(self._intensity.reset_choices)
        viewer.layers.events.removed.connect(self._forget_removed)
        self._label_layer.changed.connect(self._show_stored)
        self._show_stored(self._label_layer.value)

    def choose(self, labels, intensity=None) -> None:
        """Choose the labels layer to measure and, if given, the image layer of its intensities.

        Raises
        ------
        ValueError
            If either is not a layer offered (labels: a labels layer; intensity: a grey image layer).
        """
        _choose_layer(self._label_layer, labels)
        _choose_layer(self._intensity, intensity)
        if intensity is None:
            self._intensity.value = None

    def _show_stored(self, layer) -> None:
        """A labels layer chosen that has a table already (measured, or opened with its stored table): shown."""
        if layer is None or layer is self.measured_layer:
            return
        features = layer.features
        if "label" in features.columns and len(features):
            self.show_table(layer, features.drop(columns="index", errors="ignore"))
            self._status.value = f"{len(features)} objects in {_short(layer.name)}, as opened"

    def _labels_layers(self, widget=None) -> list:
        return [layer for layer in self._viewer.layers if isinstance(layer, napari.layers.Labels)]

    def _image_layers(self, widget=None) -> list:
        return [layer for layer in self._viewer.layers if isinstance(layer, napari.layers.Image) and not layer.rgb]

    def _colour_columns(self, widget=None) -> list[str]:
        if self.frame is None:
            return [NO_COLOUR_COLUMN]
        numeric = [column for column in self.frame.columns if column != "label" and self.frame[column].dtype.kind in "iuf"]
        return [NO_COLOUR_COLUMN, *numeric]

    def _start(self) -> None:
        """Measure in a worker thread, tile by tile; a Cancel stops it at the next tile."""
        layer = self._label_layer.value
        if layer is None:
            self._status.value = "choose a labels layer (Segment makes one)"
            return
        intensity = self._intensity.value
        if intensity is not None and _level0(intensity).shape[-layer.ndim:] != _level0(layer).shape:
            self._status.value = (
                f"{_short(intensity.name)} has shape {tuple(_level0(intensity).shape)}, {_short(layer.name)} "
                f"{tuple(_level0(layer).shape)}: choose an intensity image of the labels' shape, or none"
            )
            return
        self._measuring = layer
        self._launch(
            _measure_layer, _level0(layer), None if intensity is None else _level0(intensity),
            spacing=tuple(layer.scale), origin=tuple(layer.translate), description=f"Measuring {layer.name}",
            cancelled_message=f"measuring {layer.name} cancelled; nothing was changed",
        )

    def _returned(self, frame) -> None:
        from ._reader import labels_features

        layer, self._measuring = self._measuring, None
        if layer not in self._viewer.layers:
            self._status.value = f"{layer.name} was removed while it was measured: nothing shown"
            return
        layer.features = labels_features(frame)
        self.show_table(layer, frame)
        self._status.value = f"{len(frame)} objects in {_short(layer.name)}"

    def show_table(self, layer, frame) -> None:
        """Show ``frame`` (scikit-image's columns) as the table of labels ``layer``, whose clicks it follows."""
        self._forget()
        self.frame, self.measured_layer = frame, layer
        self._rows = {int(label): row for row, label in enumerate(frame["label"])}
        self._plain_colormap = layer.colormap
        self.table.setModel(_FrameModel(frame, self.table))
        layer.mouse_drag_callbacks.append(self._select_clicked_object)
        layer.show_selected_label = self._only_selected.value
        self._colour_by.reset_choices()
        self._colour_by.value = NO_COLOUR_COLUMN
        self._export.enabled = True

    def _forget(self) -> None:
        """Stop following the measured layer: its clicks, its colours by a column, only its selection shown."""
        layer = self.measured_layer
        if layer is not None:
            if self._select_clicked_object in layer.mouse_drag_callbacks:
                layer.mouse_drag_callbacks.remove(self._select_clicked_object)
            if self._plain_colormap is not None:
                layer.colormap = self._plain_colormap
            layer.show_selected_label = False
        self.frame = self.measured_layer = self._plain_colormap = None
        self._rows = {}
        self.table.setModel(None)
        self._colour_by.reset_choices()
        self._export.enabled = False

    def _forget_removed(self, event) -> None:
        if event.value is self.measured_layer:
            self.measured_layer = None  # gone: nothing of it to restore
            self._forget()

    def _show_only_selected(self, only: bool) -> None:
        if self.measured_layer is not None:
            self.measured_layer.show_selected_label = only

    def go_to_row(self, row: int) -> None:
        """Centre the view on the object of table row ``row`` (its centroid) and select it in its layer."""
        layer = self.measured_layer
        if layer is None or self.frame is None:
            return
        record = self.frame.iloc[row]
        centroid = [record[f"centroid-{axis}"] for axis in range(layer.ndim)]
        world = layer.data_to_world(centroid)
        offset = self._viewer.dims.ndim - layer.ndim  # the layer's axes are the viewer's last
        displayed = self._viewer.dims.displayed
        for axis in range(layer.ndim):
            if axis + offset not in displayed:
                self._viewer.dims.set_point(axis + offset, world[axis])
        self._viewer.camera.center = tuple(world[axis - offset] for axis in displayed if axis >= offset)
        layer.selected_label = int(record["label"])
        self.table.selectRow(row)

    def _select_clicked_object(self, layer, event) -> None:
        """A click on the measured layer: the row of the object under the cursor is selected and shown."""
        value = layer.get_value(event.position, view_direction=event.view_direction,
                                dims_displayed=event.dims_displayed, world=True)
        if isinstance(value, tuple):  # a multiscale layer's: (level, value)
            value = value[1]
        row = self._rows.get(int(value)) if value is not None else None
        if row is not None:
            self.table.selectRow(row)
            self.table.scrollTo(self.table.model().index(row, 0))

    def choose_colour(self, column: str) -> None:
        """Colour the measured objects by ``column`` as if chosen in "colour by".

        Raises
        ------
        ValueError
            If no table is shown or it has no such numeric column.
        """
        if column not in self._colour_by.choices:
            raise ValueError(f"{column!r} is not a numeric column of the table shown: measure first")
        self._colour_by.value = column

    def colour_by(self, column: str) -> None:
        """Colour the measured objects by ``column`` (viridis, from its smallest to its largest value); the
        layer's own colours with NO_COLOUR_COLUMN."""
        import numpy as np
        from napari.utils.colormaps import DirectLabelColormap, ensure_colormap

        layer = self.measured_layer
        if layer is None or not column:
            return
        if column == NO_COLOUR_COLUMN:
            layer.colormap = self._plain_colormap
            return
        values = self.frame[column].to_numpy(dtype=float)
        low, high = np.nanmin(values), np.nanmax(values)
        scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
        colours = ensure_colormap("viridis").map(np.nan_to_num(scaled))
        transparent = np.zeros(4, np.float32)
        layer.colormap = DirectLabelColormap(color_dict={
            None: transparent, 0: transparent,
            **{int(label): colour for label, colour in zip(self.frame["label"], colours)},
        })

    def export_csv(self) -> None:
        """Save the table as CSV (scikit-image's columns) where the person chooses."""
        if self.frame is None:
            return
        path = ask_csv_path(f"{self.measured_layer.name}.csv")
        if path is None:
            return
        try:
            self.frame.to_csv(path, index=False)
        except OSError as error:
            from napari.utils.notifications import show_error

            self._status.value = f"could not write {path}: {error.strerror or error}; choose another place"
            show_error(f"Export CSV: {self._status.value}")
            return
        self._status.value = f"wrote {path}"


def ask_csv_path(suggested: str) -> Path | None:
    """A file dialog for a CSV file to write; None if the person cancels (tests replace it with an answer)."""
    from qtpy.QtWidgets import QFileDialog

    path, _ = QFileDialog.getSaveFileName(None, "Export the table as CSV", suggested, "CSV (*.csv)")
    return Path(path) if path else None


def _level0(layer):
    """A layer's full-resolution data (the finest level of a multiscale layer)."""
    return layer.data[0] if layer.multiscale else layer.data


def _measure_layer(labels, intensity, *, spacing, origin, progress):
    """The object table of ``labels``, tile by tile; ``progress(done, total)`` after each tile (it raises to
    stop the work)."""
    import dask.array as da
    import numpy as np

    from ._measure import measure

    labels = da.asarray(labels)
    done, lock, total = [0], threading.Lock(), labels.npartitions

    def counted(block):
        with lock:
            done[0] += 1
            count = done[0]
        progress(count, total)
        return block

    progress(0, total)
    counted_labels = labels.map_blocks(counted, dtype=labels.dtype, meta=np.empty((0,) * labels.ndim, labels.dtype))
    return measure(counted_labels, intensity, spacing=spacing, origin=origin)


class _FrameModel(QAbstractTableModel):
    """A pandas DataFrame as a read-only Qt table: a view of it draws only the rows on screen, so that a
    table of many thousand objects shows at once."""

    def __init__(self, frame, parent=None):
        super().__init__(parent)
        self._frame = frame

    def rowCount(self, parent=None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self._frame)

    def columnCount(self, parent=None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self._frame.columns)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole or not index.isValid():
            return None
        value = self._frame.iat[index.row(), index.column()]
        return f"{value:.6g}" if isinstance(value, float) else str(value)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return str(self._frame.columns[section])
        return str(section + 1)
