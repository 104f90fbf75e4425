"""The *Plate* widget: browse an HCS plate opened as a mosaic, and open a well's field at full resolution.

The plate's rows and columns are a grid of its wells (wells it does not hold are greyed out); a well picked
there, or clicked in the canvas, lists its fields (a double click also opens the first); *Open* adds that field's image (every pyramid level,
lazy) and its labels over the well's place in the mosaic, replacing the well opened before. For a
bioformats2raw store, whose first series the reader opened, the widget lists its series to open instead.
*Well names* writes the wells' names on the mosaic (a Points layer with text, on request: napari's first
one takes seconds, as long as the rest of the plate's first frame).

napari resets a dock widget's choices whenever its layers change: the field and series boxes take theirs
from what the widget has found (a static list would be reset to the empty one they were made with), and the
plate shown follows the layer list.
"""

from pathlib import Path

import napari
from magicgui.widgets import CheckBox, ComboBox, Container, PushButton
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem

from . import _ome
from ._errors import ZarrTilesError
from ._location import locate
from ._widget_parts import choice_box, status_label

# The share of the canvas an opened well fills.
WELL_ZOOM_MARGIN = 0.9


class PlateWidget(Container):
    """Pick a plate among the mosaics in the viewer, a well on its grid and a field; open it at full resolution.

    For scripts and tests: :meth:`choose_plate`, :meth:`choose_well`, then :meth:`open_field` (or
    :meth:`open_series` for a bioformats2raw store).
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        self._viewer = viewer
        self.plate = None  # the chosen plate (_plate.Plate)
        self.well = None  # the chosen well (_ome.WellPlace)
        self.series = None  # the series of the chosen bioformats2raw store
        self._fields: list[str] = []  # the fields of the chosen well
        self._shown = None  # the store the grid (or series list) shows
        self.opened: list = []  # the layers of the well or series opened last
        self._opened_where = None  # where they were opened from
        self._names_layer = None  # the wells' names written on the mosaic
        self._store = choice_box(label="plate", choices=self._stores)
        self._field = ComboBox(label="field", choices=lambda widget: self._fields)
        self._series = ComboBox(label="series", choices=lambda widget: self.series or [], visible=False)
        self._open = PushButton(text="Open")
        self._names = CheckBox(text="well names", value=False)
        self._status = status_label()
        super().__init__(widgets=[self._store, self._field, self._series, self._open, self._names, self._status])
        self._grid = QTableWidget()
        self._grid.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._grid.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.native.layout().insertWidget(1, self._grid)
        self._store.changed.connect(self._show_store)
        self._grid.itemSelectionChanged.connect(self._grid_selected)
        self._open.clicked.connect(self._open_clicked)
        self._names.changed.connect(self._show_names)
        viewer.layers.events.inserted.connect(self._follow_layers)
        viewer.layers.events.removed.connect(self._follow_layers)
        viewer.mouse_double_click_callbacks.append(self._double_clicked)
        viewer.mouse_drag_callbacks.append(self._clicked)
        self._show_store(self._store.value)

    # --- what the viewer holds --------------------------------------------------------------------------

    def _stores(self, widget=None) -> list:
        """The plates shown as mosaics, and the bioformats2raw stores whose first series is shown."""
        found = []
        for layer in self._viewer.layers:
            where = layer.metadata.get("zarr_path")
            if not where:
                continue
            root = where if "plate" in layer.metadata else _bioformats2raw_root(where)
            if root is not None and root not in found:
                found.append(root)
        return found

    def _mosaic_layer(self):
        """A mosaic layer of the chosen plate, which says where its wells lie."""
        return next(
            (layer for layer in self._viewer.layers
             if "plate" in layer.metadata and layer.metadata.get("zarr_path") == self._store.value),
            None,
        )

    # --- choosing ---------------------------------------------------------------------------------------

    def choose_plate(self, where: str) -> None:
        """Show the plate (or bioformats2raw store) at ``where``, one the viewer shows."""
        self._store.reset_choices()
        self._store.value = str(where)

    def choose_well(self, name: str) -> None:
        """Select well ``name`` (``"B3"``) on the grid, which lists its fields.

        Raises
        ------
        ValueError
            If no plate is shown, or the plate holds no well ``name``.
        """
        if self.plate is None:
            raise ValueError(f"no plate is shown to choose well {name!r} on: open an HCS plate first")
        try:
            well = self.plate.well(name)
        except KeyError:
            names = [well.name for well in self.plate.layout.wells]
            raise ValueError(
                f"{self.plate.where}: the plate holds no well {name!r} (its wells: {names[0]} to {names[-1]})"
            ) from None
        self._grid.setCurrentCell(well.row, well.column)

    def _follow_layers(self, event=None) -> None:
        """The layers changed: offer the stores they show, and show another where the one shown has gone."""
        self._store.reset_choices()
        if self._store.value != self._shown:
            self._show_store(self._store.value)

    def _list_fields(self, fields: list[str]) -> None:
        """List a newly chosen well's ``fields``, the first chosen."""
        self._fields = fields
        self._field.reset_choices()
        if fields:
            self._field.value = fields[0]

    def _show_store(self, where) -> None:
        from ._plate import open_plate

        self._shown = where
        self.plate = self.well = self.series = None
        self._show_names(False)  # the names of the plate shown before
        self._grid.clear()
        self._grid.setRowCount(0)
        self._list_fields([])
        if not where:
            self._status.value = "open an HCS plate (or a bioformats2raw store) to browse it"
            return
        self.series = series = _bioformats2raw_series(where)
        self._series.visible = series is not None
        self._grid.setVisible(series is None)
        self._field.visible = series is None
        if series is not None:
            self._series.reset_choices()
            self._status.value = f"{len(series)} series in {where}"
            return
        try:
            self.plate = open_plate(where)
        except ZarrTilesError as error:
            self._status.value = str(error)
            return
        layout = self.plate.layout
        self._grid.setRowCount(len(layout.rows))
        self._grid.setColumnCount(len(layout.columns))
        self._grid.setVerticalHeaderLabels(list(layout.rows))
        self._grid.setHorizontalHeaderLabels(list(layout.columns))
        for row in range(len(layout.rows)):
            for column in range(len(layout.columns)):
                well = self.plate.well_at(row, column)
                item = QTableWidgetItem(well.name if well else "")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if well is None:  # not held by the plate: not selectable
                    item.setFlags(Qt.ItemFlag.NoItemFlags)
                self._grid.setItem(row, column, item)
        self._grid.resizeColumnsToContents()
        self._status.value = f"{len(layout.wells)} wells on {len(layout.rows)} x {len(layout.columns)}: pick one"
        self._show_names(self._names.value)

    def _show_names(self, shown: bool) -> None:
        """Write the chosen plate's wells' names on its mosaic (``shown``), or take them away."""
        from ._plate import well_names

        if self._names_layer in self._viewer.layers:
            self._viewer.layers.remove(self._names_layer)
        self._names_layer = None
        layer = self._mosaic_layer()
        if not shown or layer is None or self.plate is None:
            return
        placement = layer.metadata["plate"]
        name = f"{self.plate.layout.name or locate(self.plate.where).name} wells"
        points, kwargs = well_names(self.plate, placement["origin"], placement["cell"], name)
        # the mosaic's axes and units: napari warns of layers whose units differ
        kwargs.update(axis_labels=layer.axis_labels[-2:], units=layer.units[-2:])
        self._names_layer = self._viewer.add_points(points, **kwargs)

    def _grid_selected(self) -> None:
        items = self._grid.selectedItems()
        well = self.plate.well_at(items[0].row(), items[0].column()) if items and self.plate else None
        self.well = well
        if well is None:
            self._list_fields([])
            return
        try:
            fields = self.plate.fields(well)
        except ZarrTilesError as error:
            self._list_fields([])
            self._status.value = str(error)
            return
        self._list_fields(fields)
        self._status.value = f"{well.name}: {len(fields)} field(s)"

    def _double_clicked(self, viewer, event) -> None:
        """A double click on the chosen plate's mosaic picks the well under it and opens its field."""
        well = self._well_under(event.position)
        if well is not None:
            self.choose_well(well.name)
            self.open_field()

    def _clicked(self, viewer, event):
        """A click (a press and release without a drag, which pans) on the mosaic picks the well under it."""
        position = event.position
        yield
        if event.type == "mouse_move":
            return  # a drag: napari's pan, not a pick
        well = self._well_under(position)
        if well is not None and well != self.well:
            self.choose_well(well.name)

    def _well_under(self, position):
        """The well of the chosen plate's mosaic at ``position`` (world coordinates), or None; None too once the
        widget is closed (napari takes it out of its dock, hidden), so that clicks stop picking wells."""
        layer = self._mosaic_layer()
        if layer is None or self.plate is None or self.native.isHidden():
            return None
        placement = layer.metadata["plate"]
        y, x = position[-2:]
        row = int((y - placement["origin"][0]) // placement["cell"][0])
        column = int((x - placement["origin"][1]) // placement["cell"][1])
        return self.plate.well_at(row, column)

    # --- opening ----------------------------------------------------------------------------------------

    def _open_clicked(self) -> None:
        if self.series is not None:
            self.open_series(self._series.value)
        else:
            self.open_field()

    def open_field(self, field: str | None = None) -> list:
        """Open ``field`` (the one chosen by default) of the chosen well at full resolution, with its labels,
        over the well's place in the mosaic; the well opened before is closed. Returns the new layers (the
        layers already open, where that field is open)."""
        if self.well is None:
            self._status.value = "pick a well first"
            return []
        field = field or self._field.value
        if field is None:  # the well lists no field: say why
            try:
                self.plate.fields(self.well)
                self._status.value = f"{self.plate.where}: well {self.well.name} lists no fields to open"
            except ZarrTilesError as error:
                self._status.value = str(error)
            return []
        layer = self._mosaic_layer()
        cell = layer.metadata["plate"]["cell"] if layer is not None else (0.0, 0.0)
        offset = (self.well.row * cell[0], self.well.column * cell[1])
        added = self._replace_opened(self.plate.field_path(self.well, field), f"{self.well.name} field {field}", offset)
        if added and layer is not None:
            origin = layer.metadata["plate"]["origin"]
            self._viewer.camera.center = (origin[0] + offset[0] + cell[0] / 2, origin[1] + offset[1] + cell[1] / 2)
            try:
                self._viewer.reset_view(layers=added, margin=1 - WELL_ZOOM_MARGIN)
            except TypeError:  # a napari whose reset_view fits every layer: the well is centred, the zoom kept
                pass
        return added

    def open_series(self, series: str) -> list:
        """Open ``series`` of the chosen bioformats2raw store, closing the series opened here before."""
        return self._replace_opened(f"{self._store.value}/{series}", f"series {series}", (0.0, 0.0))

    def _replace_opened(self, where: str, prefix: str, offset) -> list:
        from ._reader import layer_data

        if where == self._opened_where and self.opened and all(layer in self._viewer.layers for layer in self.opened):
            self._status.value = f"{prefix} is open ({len(self.opened)} layers)"
            return self.opened
        try:
            found = layer_data(where)
        except (ZarrTilesError, OSError) as error:
            self._status.value = str(error)
            return []
        for layer in self.opened:
            if layer in self._viewer.layers:
                self._viewer.layers.remove(layer)
        self.opened, self._opened_where = [], where
        for index, (data, kwargs, layer_type) in enumerate(found):
            kwargs = {**kwargs, "name": f"{prefix}: {kwargs['name']}"}
            if index == 0 and layer_type == "image":
                # the field's first channel hides the mosaic under it: added to the mosaic's own picture of the
                # well (its channels are additive), the field showed twice as bright
                kwargs["blending"] = "opaque"
            translate = list(kwargs.get("translate") or [0.0] * len(kwargs["axis_labels"]))
            translate[-2] += offset[0]
            translate[-1] += offset[1]
            kwargs["translate"] = translate
            self.opened.append(self._viewer.add_layer(napari.layers.Layer.create(data, kwargs, layer_type)))
        self._status.value = f"opened {prefix} ({len(self.opened)} layers)"
        return self.opened


def _bioformats2raw_root(where: str) -> str | None:
    """The bioformats2raw store a series at ``where`` belongs to (its parent), or None."""
    parent = str(Path(where).parent)
    return parent if _bioformats2raw_series(parent) is not None else None


def _bioformats2raw_series(where: str) -> list[str] | None:
    """The series of the bioformats2raw store at ``where``; None where it is not one (or cannot be read)."""
    from ._reader import bioformats2raw_series
    from ._store import is_zarr_path, open_readonly

    if not is_zarr_path(where):
        return None
    try:
        root = open_readonly(where)
        found = _ome.ome_block(root.attrs.asdict())
        if found is None or "plate" in found[1]:
            return None
        return bioformats2raw_series(root, where, found[1])
    except (ZarrTilesError, OSError):
        return None
