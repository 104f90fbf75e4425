"""magicgui widgets for segmentation: "Segment", a threshold then labels, or Voronoi-Otsu, as a lazy labels
layer with the whole image's ids (saved like any filter result); "Measure", a labels layer's object table in
its features, shown as a table whose rows and the objects select each other, colours by a column, CSV export.
"""

import threading
from functools import partial
from pathlib import Path

import napari
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    PushButton,
    SpinBox,
)
from psygnal import Signal as Event
from qtpy.QtCore import QAbstractTableModel, Qt

from ._widget_parts import BackgroundJob, choice_box, choose_layer, settle, short_name, status_label
from ._widgets import RECIPE, add_result_layer, lazy_result, parameter_widget, recipe_for

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
                                widgets=[parameter_widget(parameter) for parameter in get_filter(SPLIT).parameters])
        self._run = PushButton(text="Apply")
        self._status = status_label()
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
        choose_layer(self._layer, layer)
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

        recipe = recipe_for(layer, self.steps)
        spatial = len(filter_axes(recipe.source.axes))
        if self._method.value != SPLIT and self._connectivity.value > spatial:
            self._status.value = (f"connectivity {self._connectivity.value} is more than the {spatial} spatial axes of "
                                  f"{short_name(layer.name)}: choose 1 to {spatial}, or 0 for all")
            return
        self._error = None
        self._status.value = "labelling the whole image, tile by tile..."
        # Not a preview: the threshold and the labels are the whole image's, as Save writes them.
        self.worker = create_worker(
            lazy_result, recipe, self.cache, preview=False,
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
        settle(self, lambda: self.worker is not None, timeout, "Segment: no labels")
        return self.result_layer

    def _show(self, source, made) -> None:
        recipe, image, contrast, _, _ = made
        self.result_layer = add_result_layer(self._viewer, image, contrast, {RECIPE: recipe}, source)
        self._status.value = f"added {short_name(image.name)}"

    def _failed(self, error: Exception) -> None:
        from napari.utils.notifications import show_error

        self._error = error
        self._status.value = f"failed: {error}"
        show_error(f"Segment: {error}")

    def _finished(self) -> None:
        self.worker = None
        self.settled.emit()


NO_COLOUR_COLUMN = "(label colours)"


class MeasureWidget(BackgroundJob):
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
        choose_layer(self._label_layer, labels)
        choose_layer(self._intensity, intensity)
        if intensity is None:
            self._intensity.value = None

    def _show_stored(self, layer) -> None:
        """A labels layer chosen that has a table already (measured, or opened with its stored table): shown."""
        if layer is None or layer is self.measured_layer:
            return
        features = layer.features
        if "label" in features.columns and len(features):
            self.show_table(layer, features.drop(columns="index", errors="ignore"))
            self._status.value = f"{len(features)} objects in {short_name(layer.name)}, as opened"

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
                f"{short_name(intensity.name)} has shape {tuple(_level0(intensity).shape)}, {short_name(layer.name)} "
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
        self._status.value = f"{len(frame)} objects in {short_name(layer.name)}"

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
