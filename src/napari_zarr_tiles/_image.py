"""The image every path shares: lazy data with its OME description, as read, filtered and written.

Neutral ground between the reader, the engine and the writing core: no zarr, no napari, no files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from . import _ome


@dataclass
class ImageToWrite:
    """One image (or label image): its data (an array, or pyramid levels finest first, as the engine makes
    them) and how to describe it, OME-shaped."""

    data: object
    axes: Sequence[_ome.Axis]
    name: str
    scale: Sequence[float] | None = None
    translate: Sequence[float] | None = None
    channels: Sequence[_ome.Channel] = ()
    label_colors: dict[int, tuple[float, float, float, float]] = field(default_factory=dict)
    is_label: bool = False

    @property
    def level0(self):
        """The finest level of the data."""
        return finest(self.data)


def finest(data):
    """An image's full-resolution data: the first of its pyramid's levels (a list, a tuple, napari's
    MultiScaleData: ``layer.data`` as it is), else ``data`` itself."""
    return data[0] if isinstance(data, Sequence) and not isinstance(data, str) else data
