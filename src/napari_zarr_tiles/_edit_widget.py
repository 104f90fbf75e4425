"""The *Edit labels* widget: labels read from zarr, corrected where the screen looks, written back tile by tile.

napari cannot paint on a multiscale labels layer; this widget gives a full-resolution window instead: a plain
numpy labels layer over the part on screen (or a rectangle drawn in the "edit region" layer), placed exactly
over the multiscale labels, with napari's own paint, fill, erase and undo. *Commit*, or moving the window on,
writes it back through a :class:`~napari_zarr_tiles._editing.LabelsEditor` (the changed chunks only, the
pyramid above them rebuilt) and refreshes the multiscale layer so that the edit shows at every zoom. Painted
edits reach the editor's journal beside the store a moment after each stroke, so a crash loses at most that
moment; the next window on the same labels offers them back.
"""

import napari
import numpy as np
from magicgui.widgets import Container, FileEdit, LineEdit, PushButton
from qtpy.QtCore import QTimer

from ._errors import ZarrTilesError
from ._widget_parts import choice_box, status_label

# The window's largest edge in pixels of level 0 (a 4096 x 4096 window of 32-bit labels is 64 MB).
WINDOW_EDGE = 4096
REGION_LAYER = "edit region"
# Painted edits go to the journal this long after the last stroke.
JOURNAL_DELAY_MS = 1000


class EditLabelsWidget(Container):
    """Edit a labels layer read from zarr by this plugin: a full-resolution window where the screen looks."""

    def __init__(self, viewer: napari.viewer.Viewer):
        self._viewer = viewer
        self._layer = choice_box(label="labels", choices=self._labels_layers,
                               tooltip="a labels layer opened from zarr by Zarr Tiles")
        self._edit_view = PushButton(text="Edit the view", tooltip=f"a window over the part on screen (at most {WINDOW_EDGE}² pixels)")
        self._edit_region = PushButton(text="Edit drawn rectangle",
                                       tooltip=f"draw a rectangle in the '{REGION_LAYER}' layer, then press this")
        self._commit = PushButton(text="Commit", tooltip="write the window's edits into the store", enabled=False)
        self._discard = PushButton(text="Close window", enabled=False,
                                   tooltip="close the window; its uncommitted edits are dropped")
        self._restore = PushButton(text="Restore recovered edits", visible=False)
        self._image = choice_box(label="image", choices=self._image_layers, tooltip="an image layer opened from zarr")
        self._name = LineEdit(label="new labels", value="labels")
        self._store = FileEdit(label="or separate store", mode="w", filter="*.zarr",
                               tooltip="where the labels go when the image's store cannot be written to")
        self._new = PushButton(text="New labels for this image")
        self._status = status_label()
        super().__init__(widgets=[self._layer, self._edit_view, self._edit_region, self._commit, self._discard,
                                  self._restore, self._image, self._name, self._store, self._new, self._status])
        self.editor = None
        self.window = None  # the numpy labels layer being edited
        self._region: tuple = ()
        self._source_layer = None
        self._journal_timer = QTimer()
        self._journal_timer.setSingleShot(True)
        self._journal_timer.setInterval(JOURNAL_DELAY_MS)
        self._journal_timer.timeout.connect(self._keep_in_journal)
        self._edit_view.clicked.connect(self.edit_view)
        self._edit_region.clicked.connect(self.edit_drawn_region)
        self._commit.clicked.connect(self.commit)
        self._discard.clicked.connect(self.close_window)
        self._restore.clicked.connect(self.restore_recovered)
        self._new.clicked.connect(self.new_labels)
        for combo in (self._layer, self._image):
            viewer.layers.events.inserted.connect(combo.reset_choices)
            viewer.layers.events.removed.connect(combo.reset_choices)
        viewer.layers.events.removed.connect(self._on_layer_removed)
        self.native.destroyed.connect(self._close_editor)

    # --- choices ----------------------------------------------------------------------------------------------

    def _labels_layers(self, widget=None) -> list:
        return [layer for layer in self._viewer.layers
                if isinstance(layer, napari.layers.Labels) and _unwrapped(layer) is not getattr(self, "window", None)]

    def _image_layers(self, widget=None) -> list:
        return [layer for layer in self._viewer.layers if isinstance(layer, napari.layers.Image)]

    # --- opening a window -------------------------------------------------------------------------------------

    def edit_view(self) -> bool:
        """Open a window over the part of the chosen labels on screen; True if one opened."""
        layer = self._layer.value
        if not self._ready(layer):
            return False
        box = self._visible_box(layer)
        shape, displayed = self._level0_shape(layer), self._displayed_axes(layer)
        if not layer.multiscale and all(shape[axis] <= WINDOW_EDGE for axis in displayed):
            # Small single-level labels: the whole plane, wherever the view is.
            box = tuple(slice(0, size) if axis in displayed else part for axis, (part, size) in enumerate(zip(box, shape)))
        return self._open_window(layer, box)

    def edit_drawn_region(self) -> bool:
        """Open a window over the last rectangle drawn in the "edit region" layer (made if missing)."""
        layer = self._layer.value
        if not self._ready(layer):
            return False
        shapes = next((layer for layer in self._viewer.layers if layer.name == REGION_LAYER), None)
        if shapes is None or not len(shapes.data):
            if shapes is None:
                shapes = self._viewer.add_shapes(name=REGION_LAYER, ndim=self._viewer.dims.ndim, edge_color="yellow",
                                                 face_color="transparent", edge_width=2)
            shapes.mode = "add_rectangle"
            self._say(f"draw a rectangle in the '{REGION_LAYER}' layer, then press Edit drawn rectangle again")
            return False
        corners = [layer.world_to_data(shapes.data_to_world(vertex)) for vertex in shapes.data[-1]]
        return self._open_window(layer, self._box(layer, np.min(corners, axis=0), np.max(corners, axis=0)))

    def _ready(self, layer) -> bool:
        """Whether ``layer`` can be edited; if not, the reason is said."""
        if layer is None:
            self._say("open a labels layer from a zarr store (Zarr Tiles reader) first")
            return False
        if not (layer.metadata or {}).get("zarr_path"):
            self._say(f"'{layer.name}' was not read from zarr by Zarr Tiles: save it (File > Save, OME-Zarr tiles) "
                      "and open the store, or edit it as any napari labels layer")
            return False
        return True

    def _visible_box(self, layer) -> tuple:
        """The part of ``layer`` on screen, in level-0 pixels, on the current plane of the other axes."""
        camera = self._viewer.scene.camera
        height, width = self._viewer.canvas.viewbox_size(self._viewer.layers)
        center = np.asarray(camera.center)[-2:]
        half = np.array([height, width]) / camera.zoom / 2
        point = np.array(self._viewer.dims.point, dtype=float)
        displayed = list(self._viewer.dims.displayed)[-2:]
        low, high = point.copy(), point.copy()
        low[displayed], high[displayed] = center - half, center + half
        ends = [layer.world_to_data(low), layer.world_to_data(high)]
        return self._box(layer, np.min(ends, axis=0), np.max(ends, axis=0))

    def _box(self, layer, low, high) -> tuple:
        """A window (one slice per axis of level 0) from data corners: the displayed axes' span (centred, at
        most WINDOW_EDGE), one plane of each other axis."""
        shape, displayed = self._level0_shape(layer), self._displayed_axes(layer)
        box = []
        for axis, size in enumerate(shape):
            if axis in displayed:
                start, stop = max(0, int(np.floor(low[axis]))), min(size, int(np.ceil(high[axis])) + 1)
                if stop - start > WINDOW_EDGE:
                    start = (start + stop - WINDOW_EDGE) // 2
                    stop = start + WINDOW_EDGE
                box.append(slice(start, max(start + 1, stop)))
            else:
                index = int(np.clip(round(float(low[axis])), 0, size - 1))
                box.append(slice(index, index + 1))
        return tuple(box)

    def _displayed_axes(self, layer) -> list[int]:
        """The layer's axes on screen (the last two the viewer displays)."""
        offset = self._viewer.dims.ndim - len(self._level0_shape(layer))
        return [axis - offset for axis in self._viewer.dims.displayed][-2:]

    @staticmethod
    def _level0_shape(layer) -> tuple:
        data = layer.data[0] if layer.multiscale else layer.data
        return tuple(data.shape)

    def _open_window(self, layer, box: tuple) -> bool:
        if self.window is not None and not self.commit():
            return False
        self.close_window(quiet=True)
        if not self._open_editor(layer):
            return False
        if self.editor.shape != self._level0_shape(layer):
            self._say(f"'{layer.name}' is shown with other axes than its store has ({self.editor.shape}, a channel axis "
                      "of length 1): edit it from Python, with napari_zarr_tiles.edit_labels", error=True)
            return False
        data = self.editor[box]
        scale = np.asarray(layer.scale)
        self._region, self._source_layer = box, layer
        self.window = _unwrapped(self._viewer.add_labels(
            data, name=f"{layer.name} [editing]", scale=scale,
            translate=np.asarray(layer.translate) + scale * [s.start for s in box], opacity=layer.opacity,
            colormap=layer.colormap, blending="opaque",
        ))
        self.window.events.paint.connect(self._painted)
        self._layer.reset_choices()  # the window was listed as it was added, before it was known as the window
        self.window.mode = "paint"
        self._commit.enabled = self._discard.enabled = True
        size = " x ".join(str(s.stop - s.start) for s in box)
        message = (f"editing {size} pixels of '{layer.name}' from ({', '.join(str(s.start) for s in box)}): paint, "
                   "fill, erase and undo in the window; Commit writes it back")
        recovered = self.editor.recovered
        if recovered is not None:
            message += (f". {recovered.chunks} chunks of uncommitted edits of these labels, saved at "
                        f"{recovered.saved:%Y-%m-%d %H:%M:%S} UTC, were found: Restore recovered edits writes them "
                        "back (a commit without restoring them drops them)")
        self._say(message, error=recovered is not None)
        return True

    def _open_editor(self, layer) -> bool:
        from ._editing import edit_labels

        path = layer.metadata["zarr_path"]  # a path, or a URL (refused in words by edit_labels)
        if self.editor is not None and str(self.editor.path) == path:
            return True
        self._close_editor()
        try:
            import warnings

            with warnings.catch_warnings(record=True):  # recovered edits: said in the widget instead
                warnings.simplefilter("always")
                self.editor = edit_labels(path)
        except ZarrTilesError as error:
            self._say(str(error), error=True)
            return False
        self.editor.before_close(self._assign_window)
        self._restore.visible = self.editor.recovered is not None
        return True

    # --- editing ----------------------------------------------------------------------------------------------

    def _painted(self, event=None) -> None:
        self._journal_timer.start()

    def _uncommitted(self, window) -> bool:
        """Whether ``window`` holds edits not in the store (napari's undo changes it without an event)."""
        return self.editor is not None and (
            self.editor.uncommitted > 0 or not np.array_equal(np.asarray(window.data), self.editor[self._region])
        )

    def _keep_in_journal(self) -> None:
        """The window's edits into the editor and its journal beside the store (what a crash would lose)."""
        if self.window is not None and self.editor is not None:
            self.editor[self._region] = self.window.data
            self.editor.save_journal()

    def commit(self) -> bool:
        """Write the window's edits into the store and show them at every zoom; True if done (or nothing to do)."""
        if self.window is None or self.editor is None:
            self._say("no window is open: press Edit the view first")
            return False
        self._journal_timer.stop()
        try:
            self.editor[self._region] = self.window.data
            report = self.editor.commit()
        except ZarrTilesError as error:
            self._say(f"the edits were not committed: {error}; they stay in the window", error=True)
            return False
        _show_store_again(self._source_layer)
        self._say(f"committed: {report.chunks[0]} chunks of level 0 and {sum(report.chunks[1:])} pyramid tiles "
                  f"written ({report.bytes_written / 1e6:.2f} MB, {report.seconds:.2f} s)")
        return True

    def close_window(self, quiet: bool = False) -> None:
        """Close the window, dropping the edits not committed (said)."""
        if self.window is None:
            return
        window, dropped = self.window, self._uncommitted(self.window)
        self.window = None
        self._journal_timer.stop()
        if dropped and self.editor is not None:
            self.editor.revert()
        if window in self._viewer.layers:
            self._viewer.layers.remove(window)
        self._commit.enabled = self._discard.enabled = False
        if not quiet:
            self._say("window closed; its uncommitted edits were dropped" if dropped else "window closed")

    def _on_layer_removed(self, event) -> None:
        """The window deleted from the layer list: its uncommitted edits are kept, not lost."""
        if event.value is not self.window:
            return
        self.window = None
        self._journal_timer.stop()
        self._commit.enabled = self._discard.enabled = False
        if self._uncommitted(event.value):
            self.editor[self._region] = event.value.data
            self.editor.save_journal()
            self._say(f"the editing window was closed with uncommitted edits: they are kept beside the store "
                      f"({self.editor.journal_path}) and offered back the next time these labels are edited", error=True)
            self._close_editor()

    def restore_recovered(self) -> None:
        """Apply the edits an earlier session left uncommitted, commit them, and show them."""
        if self.editor is None or self.editor.recovered is None:
            return
        count = self.editor.restore_recovered()
        report = self.editor.commit()
        self._restore.visible = False
        if self.window is not None:
            self.window.data = self.editor[self._region]
        if self._source_layer is not None:
            _show_store_again(self._source_layer)
        self._say(f"restored and committed {count} chunks of recovered edits ({report.bytes_written / 1e6:.2f} MB)")

    def _assign_window(self) -> None:
        """The window's pixels into the editor (called as it closes: the widget closing, or the process ending)."""
        if self.window is not None:
            self.editor[self._region] = np.asarray(self.window.data)

    def _close_editor(self, *args) -> None:
        """Close the editor; a window's edits not yet in it go to its journal first (the widget is closing)."""
        if self.editor is not None:
            editor, self.editor = self.editor, None
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # uncommitted edits kept in the journal: said by the caller
                editor.close()

    # --- new labels -------------------------------------------------------------------------------------------

    def new_labels(self) -> bool:
        """Create empty labels for the chosen image (in its store, else the separate store named) and open them."""
        from ._editing import SEPARATE_STORE, new_labels

        image = self._image.value
        if image is None or not (image.metadata or {}).get("zarr_path"):
            self._say("choose an image layer opened from zarr by Zarr Tiles")
            return False
        if self.window is not None and not self.commit():
            return False
        self.close_window(quiet=True)
        self._close_editor()
        store = self._store.value
        separate = str(store) if store is not None and str(store) not in ("", ".") else None
        try:
            self.editor = new_labels(image.metadata["zarr_path"], self._name.value, store=separate)
        except ZarrTilesError as error:
            self._say(str(error).replace(SEPARATE_STORE, "choose a separate store below"), error=True)
            return False
        self.editor.before_close(self._assign_window)
        path = self.editor.path
        layers = self._viewer.open(str(path), plugin="napari-zarr-tiles")
        [labels] = [layer for layer in layers if isinstance(layer, napari.layers.Labels)]
        self._layer.reset_choices()
        self._layer.value = labels
        self._say(f"new labels '{labels.name}' at {path}: press Edit the view to paint")
        return True

    def _say(self, message: str, error: bool = False) -> None:
        from napari.utils.notifications import show_info, show_warning

        self._status.value = message
        (show_warning if error else show_info)(f"Edit labels: {message}")


def _unwrapped(layer):
    """The layer itself: a widget added from the plugin menu gets the viewer behind a proxy, whose layers are
    proxies too (new ones at each access), while the layer list's events give the layers themselves."""
    return getattr(layer, "__wrapped__", layer)


def _show_store_again(layer) -> None:
    """Redraw ``layer`` from its store at every level. napari keeps what it has read in dask's opportunistic
    cache, by task name, whole slices included (under names that do not say which layer they are of), and a
    store's views keep their names across a commit: the cache is emptied first, or the old pixels would show
    again. The other layers' tiles are then read again as they are drawn."""
    from napari.utils._dask_utils import _DASK_CACHE

    _DASK_CACHE.cache.clear()
    layer.refresh()
