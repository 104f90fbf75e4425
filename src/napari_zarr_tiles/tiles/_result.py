"""A filter result as an image: the source image with its data replaced by the lazy result of the steps,
named after them, labels where the last step makes labels. No files here: saving it is ``_jobs``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .. import _ome
from .._image import ImageToWrite
from ._apply import apply_chain
from ._filters import get_filter

Steps = Sequence[tuple[str, dict]]


def result_name(name: str, steps: Steps) -> str:
    """``blobs gaussian(sigma=2)``: the source's name and each step with the parameters that mattered."""
    parts = []
    for filter_name, params in steps:
        used = {p.name for p in get_filter(filter_name).parameters if p.used(params)}
        parts.append(f"{filter_name}({', '.join(f'{k}={v}' for k, v in params.items() if k in used)})")
    return f"{name} {' '.join(parts)}"


def filtered(image: ImageToWrite, steps: Steps, *, preview: bool = False) -> ImageToWrite:
    """``image`` with its data replaced by the lazy result of ``steps`` (a list of levels stays a list)."""
    data = apply_chain(image.data, steps, spatial_axes=_ome.filter_axes(image.axes), preview=preview)
    is_label = get_filter(steps[-1][0]).labels
    # Windows and label colours were the source's; the writer takes new windows from the result.
    channels = tuple(replace(channel, window=None) for channel in image.channels)
    return replace(
        image, data=data, name=result_name(image.name, steps), channels=() if is_label else channels,
        is_label=is_label, label_colors={},
    )
