"""magicgui widgets for converting and filtering (the segmentation widgets are in ``_segment_widgets``, the
plate's and the label editor's in their own modules; what they share in ``_widget_parts``).

"Convert to zarr tiles": choose a file, convert it in a worker thread with napari's progress bar and a
cancel that stops it (leaving nothing behind), then open the result.
"Tile filter": run a filter on an image layer; the result is a new lazy layer, computed tile by tile only
where the screen looks, and updated as the parameters change. A result chosen as the input chains: a new
layer with both steps is added next to it, and the input result stays.
"Save result to zarr": stream a filter result at full resolution, with its pyramid, into OME-Zarr, with
progress and a cancel that keeps what was written for the next Save to resume; the layer then reads the store
and can be saved again, or chained on.
A Save or Convert onto an existing target asks whether to replace it (``_widget_parts.ask_to_replace``), as
napari's own Save through this plugin's writer does.
"""

from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import napari
from magicgui.widgets import (
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    LineEdit,
    PushButton,
    SpinBox,
)
from psygnal import Signal as Event

from ._errors import WriteCancelled
from ._image import ImageToWrite
from ._widget_parts import (
    BackgroundJob,
    choice_box,
    choose_layer,
    settle,
    short_name,
    status_label,
)
from ._writer import image_from_layer

RECIPE = "napari-zarr-tiles"  # the layer.metadata key of a filter result's recipe


class ConvertWidget(BackgroundJob):
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
        self._status = status_label()
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
        choose_layer(self._layer, layer)
        self._filter.value = name
        for parameter, value in params.items():
            getattr(self._parameters, parameter).value = value

    def _show_parameters(self) -> None:
        from .tiles import get_filter

        self._parameters.clear()
        for parameter in get_filter(self._filter.value).parameters:
            widget = parameter_widget(parameter)
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
        recipe = recipe_for(layer, self.steps)
        self._status.value = "computing..."
        self._latest, self._requested_from, self._error = recipe, layer, None
        self.worker = create_worker(
            lazy_result, recipe, self.cache,
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
        settle(self, lambda: self._latest is not None, timeout, f"Tile filter: no result of {self._filter.value}")
        return self.result_layer

    def _show(self, made) -> None:
        recipe, image, contrast, steps_run, problems = made
        if recipe is not self._latest:  # parameters changed while this one was built: the newer one follows
            return
        self._latest = None
        source = self._requested_from
        if source not in self._viewer.layers:  # removed while its result was built: nothing to lay it over
            self._status.value = f"{short_name(source.name)} was removed: its result is not added"
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
                lines.append(f"updated {short_name(layer.name)}")
            else:
                self._viewer.layers.remove(layer)
        if not lines:  # a new result, next to its input (a result chained on stays as it was)
            layer = add_result_layer(self._viewer, image, contrast, metadata, source)
            self.result_layer, self._result_input = layer, source
            lines.append(f"added {short_name(image.name)}")
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


def parameter_widget(parameter):
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


def recipe_for(layer, steps: list[tuple[str, dict]]) -> Recipe:
    """The recipe of ``steps`` run on image ``layer``: on a result (saved or not), chained onto its steps
    from its source."""
    earlier = layer.metadata.get(RECIPE)
    if isinstance(earlier, Recipe):
        return Recipe(earlier.source, [*earlier.steps, *steps], earlier.origin)
    data, meta, _ = layer.as_layer_data_tuple()
    source = image_from_layer(data, meta)
    return Recipe(replace(source, data=_levels_to_filter(layer, source)), steps, layer.source.path)


def add_result_layer(viewer: napari.viewer.Viewer, image: ImageToWrite, contrast, metadata: dict, source):
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


def lazy_result(recipe: Recipe, cache, preview: bool = True) -> tuple:
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


class SaveResultWidget(BackgroundJob):
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
