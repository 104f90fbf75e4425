"""magicgui widgets: the only module that touches Qt.

"Convert to zarr tiles": choose a file, convert it in a worker thread with napari's progress bar and a
cancel that stops it (leaving nothing behind), then open the result.
"Tile filter": run a filter on an image layer; the result is a new lazy layer, computed tile by tile only
where the screen looks, and updated as the parameters change.
"Save result to zarr": stream a filter result at full resolution, with its pyramid, into OME-Zarr, with
progress and a cancel that keeps what was written for the next Save to resume; the layer then reads the store.
"""

import threading
from dataclasses import dataclass, replace
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
from qtpy.QtCore import QObject, Signal

from ._errors import InvalidOptionError, WriteCancelled
from ._image import ImageToWrite
from ._writer import image_from_layer
from ._writing import COMPRESSOR_ADVICE, COMPRESSORS, WriteOptions

RECIPE = "napari-zarr-tiles"  # the layer.metadata key of a filter result's recipe


class _ProgressRelay(QObject):
    """Carries (done, total) from the worker's dask threads to the GUI thread (a queued Qt connection)."""

    advanced = Signal(int, int)


class _BackgroundJob(Container):
    """A widget whose Run button starts a job in a worker thread, with napari's progress bar of tiles
    written, a status line, and a Cancel that stops the job at the next tile."""

    run_text = "Run"

    def __init__(self, viewer: napari.viewer.Viewer, fields: list):
        self._viewer = viewer
        self._run = PushButton(text=self.run_text)
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._status = Label(value="")
        super().__init__(widgets=[*fields, self._run, self._cancel, self._status])
        self._run.clicked.connect(self.start)
        self._cancel.clicked.connect(self.cancel)
        self._cancelled = threading.Event()
        self._relay = _ProgressRelay()
        self._relay.advanced.connect(self._show_progress)
        self._progress_bar = None
        self.worker = None

    def _make_write_fields(self) -> None:
        """The write options every job here offers: tile edge, compressor, OME-Zarr version, pyramid, overwrite."""
        self._chunks = SpinBox(label="tile edge", value=1024, min=16, max=16384, step=64)
        self._compressor = ComboBox(label="compressor", choices=COMPRESSORS, value="blosc-zstd", tooltip=COMPRESSOR_ADVICE)
        self._version = ComboBox(label="OME-Zarr", choices=["0.4", "0.5"], value="0.4")
        self._pyramid = CheckBox(label="pyramid", value=True)
        self._overwrite = CheckBox(label="overwrite", value=False)

    def _write_options(self, **fixed) -> WriteOptions | None:
        """The write options as chosen (and ``fixed``); None, with the reason shown, where one is wrong."""
        try:
            return WriteOptions(
                tile=self._chunks.value, compressor=self._compressor.value, ome_version=self._version.value,
                with_pyramid=self._pyramid.value, overwrite=self._overwrite.value, **fixed,
            )
        except InvalidOptionError as error:
            words = {"tile": "tile edge", "ome_version": "OME-Zarr", "with_pyramid": "untick 'pyramid'"}
            self._status.value = error.in_words(words)
            return None

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

    def start(self) -> None:
        raise NotImplementedError

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
        self._status.value = f"{done}/{total} tiles"

    def _failed(self, error: Exception) -> None:
        self._status.value = str(error) if isinstance(error, WriteCancelled) else f"failed: {error}"
        if not isinstance(error, WriteCancelled):
            from napari.utils.notifications import show_error

            show_error(f"{self.run_text}: {error}")

    def _done(self) -> None:
        if self._progress_bar is not None:
            self._progress_bar.close()
            self._progress_bar = None
        self._run.enabled, self._cancel.enabled = True, False


class ConvertWidget(_BackgroundJob):
    """Convert a TIFF or zarr store to tiled OME-Zarr with a pyramid, in the background."""

    run_text = "Convert"

    def __init__(self, viewer: napari.viewer.Viewer):
        self._source = FileEdit(label="source", mode="r", filter="*.tif *.tiff *.btf")
        self._target = FileEdit(label="target (.zarr)", mode="w", filter="*.zarr")
        self._make_write_fields()
        super().__init__(viewer, [self._source, self._target, self._chunks, self._compressor, self._version,
                                  self._pyramid, self._overwrite])
        self._source.changed.connect(self._suggest_target)

    def _suggest_target(self, source: Path) -> None:
        source = Path(source)
        stem = source.name.split(".")[0] if source.name else ""
        if stem:
            self._target.value = source.with_name(f"{stem}.ome.zarr")

    def start(self) -> None:
        """Start the conversion in a worker thread; a cancel removes the partial store."""
        from ._convert import convert

        source, target = Path(self._source.value), Path(self._target.value)
        options = self._write_options()
        if options is None:
            return
        self._launch(
            convert, source, target, options=options, description=f"Converting {source.name}",
            cancelled_message=f"conversion of {source} cancelled; nothing was written",
        )

    def _returned(self, path: str) -> None:
        self._status.value = f"wrote {path}"
        self._viewer.open(path, plugin="napari-zarr-tiles")


@dataclass
class Recipe:
    """How a filter result layer was made: its source image (lazy, all levels), the filter steps, and the path
    the source layer was opened from (None for a layer made in memory), which a save records."""

    source: ImageToWrite
    steps: list[tuple[str, dict]]
    origin: str | None = None


class TileFilterWidget(Container):
    """Run a filter on an image layer: the result is a new lazy layer that follows the parameters."""

    def __init__(self, viewer: napari.viewer.Viewer):
        from .tiles import FILTERS
        from .tiles._cache import DEFAULT_BUDGET, TileCache

        self._viewer = viewer
        self._layer = ComboBox(label="image", choices=self._image_layers)
        self._filter = ComboBox(label="filter", choices=list(FILTERS), value="gaussian")
        self._parameters = Container(labels=True)
        self._cache_mb = SpinBox(label="cache (MB)", value=DEFAULT_BUDGET // 2**20, min=0, max=1_000_000, step=128,
                                 tooltip="memory kept for computed tiles, so that panning back does not recompute")
        self._run = PushButton(text="Apply")
        self._status = Label(value="")
        super().__init__(widgets=[self._layer, self._filter, self._parameters, self._cache_mb, self._run, self._status])
        self.cache = TileCache()
        self._cache_mb.changed.connect(lambda megabytes: setattr(self.cache, "budget", megabytes * 2**20))
        self.result_layer = None
        self._latest = None  # the recipe of the newest request; older ones arriving late are dropped
        self.worker = None
        self._show_parameters()
        self._filter.changed.connect(self._show_parameters)
        self._filter.changed.connect(self._follow)
        self._run.clicked.connect(self.apply)
        viewer.layers.events.inserted.connect(self._layer.reset_choices)
        viewer.layers.events.removed.connect(self._layer.reset_choices)

    def _image_layers(self, widget=None) -> list:
        """Image layers, filter results among them (a filter on a result chains onto its steps)."""
        return [
            layer for layer in self._viewer.layers
            if isinstance(layer, napari.layers.Image) and layer is not getattr(self, "result_layer", None)
        ]

    def _show_parameters(self) -> None:
        from .tiles import get_filter

        self._parameters.clear()
        for parameter in get_filter(self._filter.value).parameters:
            if parameter.choices:
                widget = ComboBox(name=parameter.name, choices=parameter.choices, value=parameter.default)
            elif parameter.integer:
                widget = SpinBox(name=parameter.name, value=parameter.default, min=parameter.minimum, max=parameter.maximum)
            else:
                widget = FloatSpinBox(
                    name=parameter.name, value=parameter.default, step=0.5,
                    min=max(parameter.minimum, -1e9), max=min(parameter.maximum, 1e9),
                )
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
        """A parameter or the filter changed: the result layer, once there, follows."""
        self._enable_used_parameters()
        if self.result_layer is not None and self.result_layer in self._viewer.layers:
            self.apply()

    def apply(self) -> None:
        """Build the lazy result in a worker thread (a threshold's histogram is computed there), then show it."""
        from napari.qt.threading import create_worker

        layer = self._layer.value
        if layer is None:
            self._status.value = "choose an image layer"
            return
        earlier = layer.metadata.get(RECIPE)
        if isinstance(earlier, Recipe):  # a result: chain onto its steps, from its source
            recipe = Recipe(earlier.source, [*earlier.steps, *self.steps], earlier.origin)
        else:
            data, meta, _ = layer.as_layer_data_tuple()
            source = image_from_layer(data, meta)
            recipe = Recipe(replace(source, data=_levels_to_filter(layer, source)), self.steps, layer.source.path)
        self._status.value = "computing..."
        self._latest = recipe
        self.worker = create_worker(
            _lazy_result, recipe, self.cache,
            _connect={"returned": self._show, "errored": self._failed},
            # napari's busy bar: a threshold reads every tile of its level for the histogram first
            _progress={"total": 0, "desc": f"Tile filter: {self._filter.value}"},
        )

    def _show(self, made) -> None:
        recipe, image, contrast = made
        if recipe is not self._latest:  # parameters changed while this one was built: the newer one follows
            return
        metadata = {RECIPE: recipe}
        if self.result_layer is not None and self.result_layer in self._viewer.layers:
            layer = self.result_layer
            if isinstance(layer, napari.layers.Labels) == image.is_label:
                layer.data = image.data
                layer.name = image.name
                layer.metadata = metadata
                if contrast is not None:
                    layer.contrast_limits = contrast
                self._status.value = f"updated {_short(layer.name)}"
                return
            self._viewer.layers.remove(layer)
        common = {"name": image.name, "scale": image.scale, "translate": image.translate, "metadata": metadata,
                  "multiscale": isinstance(image.data, list)}
        if image.is_label:
            self.result_layer = self._viewer.add_labels(image.data, **common)
        else:
            self.result_layer = self._viewer.add_image(image.data, contrast_limits=contrast, **common)
        self._status.value = f"added {_short(image.name)}"

    def _failed(self, error: Exception) -> None:
        from napari.utils.notifications import show_error

        self._status.value = f"failed: {error}"
        show_error(f"Tile filter: {error}")


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


def _lazy_result(recipe: Recipe, cache) -> tuple:
    """The result layer's lazy levels (each block cached once computed), and its contrast limits."""
    from ._display import contrast_limits, sample
    from .tiles._cache import cached
    from .tiles._result import filtered

    image = filtered(recipe.source, recipe.steps, preview=True)
    levels = image.data if isinstance(image.data, list) else [image.data]
    levels = [cached(level, cache) for level in levels]
    contrast = None if image.is_label else contrast_limits(sample(levels[-1]))
    data = levels if isinstance(image.data, list) else levels[0]
    return recipe, replace(image, data=data), contrast


class SaveResultWidget(_BackgroundJob):
    """Save a filter result layer at full resolution, with its pyramid, as OME-Zarr; then show the store."""

    run_text = "Save"

    def __init__(self, viewer: napari.viewer.Viewer):
        self._viewer = viewer  # the layer choices below read it
        self._layer = ComboBox(label="result", choices=self._result_layers)
        self._target = FileEdit(label="target (.zarr)", mode="w", filter="*.zarr")
        self._make_write_fields()
        self._scheduler = LineEdit(label="dask scheduler", value="", tooltip="optional: tcp://host:8786")
        self._workers = SpinBox(
            label="local workers", value=0, min=0, max=256,
            tooltip="0: threads in this process; N: a local dask.distributed cluster of N processes",
        )
        super().__init__(viewer, [self._layer, self._target, self._chunks, self._compressor, self._version,
                                  self._scheduler, self._workers, self._pyramid, self._overwrite])
        viewer.layers.events.inserted.connect(self._layer.reset_choices)
        viewer.layers.events.removed.connect(self._layer.reset_choices)
        self._saving = None

    def _result_layers(self, widget=None) -> list:
        return [layer for layer in self._viewer.layers if isinstance(layer.metadata.get(RECIPE), Recipe)]

    def start(self) -> None:
        """Save in a worker thread; a cancel keeps what was written, and the next Save resumes it."""
        layer = self._layer.value
        if layer is None:
            self._status.value = "no filter result to save: use Tile filter first"
            return
        self._saving = layer
        recipe = layer.metadata[RECIPE]
        target = Path(self._target.value)
        options = self._write_options()
        if options is None:
            return
        self._launch(
            _save, recipe, target, self._scheduler.value.strip() or None, self._workers.value or None,
            options=options, description=f"Saving {layer.name}",
            cancelled_message=f"save to {target} cancelled; Save again to resume it",
        )

    def _returned(self, path: str) -> None:
        """The layer now reads the saved store, level by level."""
        from ._reader import layer_data

        data = layer_data(path)[0][0]
        layer = self._saving
        if layer is not None and layer in self._viewer.layers:
            if isinstance(data, list) == layer.multiscale:
                layer.data = data
                layer.metadata = {RECIPE: path}
            else:  # saved without a pyramid: a layer of another kind (single-scale) reads the store
                index = self._viewer.layers.index(layer)
                self._viewer.layers.remove(layer)
                for opened in self._viewer.open(path, plugin="napari-zarr-tiles"):
                    opened.metadata = {**opened.metadata, RECIPE: path}
                    self._viewer.layers.move(self._viewer.layers.index(opened), index)
        self._status.value = f"wrote {path}"


def _save(recipe: Recipe, target: Path, scheduler: str | None, workers: int | None, **options) -> str:
    from ._jobs import cluster, save_filtered
    from ._store import source_provenance

    source = source_provenance(recipe.origin) if recipe.origin else None
    with cluster(scheduler=scheduler, workers=None if scheduler else workers) as client:
        return save_filtered(recipe.source, recipe.steps, target, source=source, client=client, **options)
