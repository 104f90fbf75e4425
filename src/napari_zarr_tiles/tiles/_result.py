"""A filter result as an image: the source image with its data replaced by the lazy result of the steps,
named after them, labels where the last step makes labels. No files here: saving it is ``_jobs``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .. import _ome
from .._image import ImageToWrite
from ._apply import run_chain
from ._filters import get_filter

Steps = Sequence[tuple[str, dict]]


def result_name(name: str, steps: Steps) -> str:
    """``blobs gaussian(sigma=2.0)``: the source's name and each step as run (:func:`run_chain`) with the
    parameters that mattered, values computed from the whole image among them (a threshold's value)."""
    return f"{name} {describe_steps(steps)}"


def describe_steps(steps: Steps) -> str:
    """``median(size=3) threshold(method=li, value=103.5, polarity=darker)``: each step as run."""
    parts = []
    for filter_name, params in steps:
        flt = get_filter(filter_name)
        shown = {p.name for p in flt.parameters if p.used(params) or p.name in flt.computed}
        parts.append(f"{filter_name}({', '.join(f'{k}={_shown(v)}' for k, v in params.items() if k in shown)})")
    return " ".join(parts)


def _shown(value) -> str:
    """A parameter as a name shows it: a computed threshold such as 103.50390625 to six digits, 6.0 as 6.0."""
    if not isinstance(value, float):
        return str(value)
    text = f"{value:.6g}"
    return text if any(mark in text for mark in ".en") else f"{text}.0"


def filtered(image: ImageToWrite, steps: Steps, *, preview: bool = False) -> tuple[ImageToWrite, Steps]:
    """``image`` with its data replaced by the lazy result of ``steps`` (a list of levels stays a list), and
    the steps as run (:func:`run_chain`: a threshold's computed value among their parameters)."""
    data, steps = run_chain(image.data, steps, spatial_axes=_ome.filter_axes(image.axes), preview=preview)
    is_label = get_filter(steps[-1][0]).labels
    # Windows and label colours were the source's; the writer takes new windows from the result.
    channels = tuple(replace(channel, window=None) for channel in image.channels)
    result = replace(
        image, data=data, name=result_name(image.name, steps), channels=() if is_label else channels,
        is_label=is_label, label_colors={},
    )
    return result, steps
