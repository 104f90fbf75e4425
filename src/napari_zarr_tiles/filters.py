"""The tile filters as typed functions, one per filter of the registry: ``gaussian(data, sigma=2.0)``.

Each function is made from its registry entry (``tiles._filters.FILTERS``): a real signature (the data, the
filter's parameters with their defaults, then the keyword-only ``spatial_axes`` and ``preview``) and a numpydoc
docstring giving each parameter's type, default and range or choices, so ``help()``, IPython and autocompletion
show them. A call is ``apply_filter(data, name, ...)``, the by-name form, which checks the parameters before any
graph is built and takes a pyramid (a list of levels) as well as an array.

Functions made at import time are invisible to static analysers (editors' completion, type checkers), so
``filters.pyi`` beside this module declares them; it is written from the same registry by
``python -m napari_zarr_tiles.filters`` and a test checks it is up to date.

Importing this module is cheap: numpy, scipy and dask, no Qt, no napari, no zarr.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from inspect import Parameter as Arg
from pathlib import Path

import numpy as np

from .tiles._apply import apply_filter
from .tiles._filters import FILTERS, Filter, Parameter

# Annotations are text, as in every module of the package (``from __future__ import annotations``), so that the
# signatures and the stub say the same thing.
_DATA = "ArrayLike | Sequence[ArrayLike]"
_RESULT = "Array | list[Array]"
_STUB_HEADER = '''\
# Generated from the filter registry (tiles/_filters.py) by `python -m napari_zarr_tiles.filters`: do not edit.
# It declares the functions napari_zarr_tiles.filters makes at import time, for editors and type checkers.
from collections.abc import Sequence
from typing import Literal

from dask.array import Array
from numpy.typing import ArrayLike
'''


def _annotation(parameter: Parameter) -> str:
    if parameter.choices:
        return f"Literal[{', '.join(repr(choice) for choice in parameter.choices)}]"
    return "int" if parameter.integer else "float"


def _signature(flt: Filter) -> inspect.Signature:
    return inspect.Signature(
        [
            Arg("data", Arg.POSITIONAL_OR_KEYWORD, annotation=_DATA),
            *(
                Arg(p.name, Arg.POSITIONAL_OR_KEYWORD, default=p.default, annotation=_annotation(p))
                for p in flt.parameters
            ),
            Arg("spatial_axes", Arg.KEYWORD_ONLY, default=None, annotation="Sequence[int] | None"),
            Arg("preview", Arg.KEYWORD_ONLY, default=False, annotation="bool"),
        ],
        return_annotation=_RESULT,
    )


def _describe(parameter: Parameter) -> list[str]:
    """The numpydoc entry of one parameter: its type and default, then what it is, its range and its use."""
    if parameter.choices:
        kind = "{" + ", ".join(repr(choice) for choice in parameter.choices) + "}"
    else:
        kind = "int" if parameter.integer else "float"
    text = parameter.doc[:1].upper() + parameter.doc[1:] + "."
    if np.isfinite(parameter.minimum) or np.isfinite(parameter.maximum):  # choices have no range
        text += f" From {parameter.minimum:g} to {parameter.maximum:g}."
    if parameter.length:
        text += " On a coarser pyramid level it is divided by that level's downsampling."
    if parameter.used_when is not None:
        text += f" Used only when ``{parameter.used_when[0]}={parameter.used_when[1]!r}``."
    return [f"{parameter.name} : {kind}, default {parameter.default!r}", *_indented(text)]


def _output(flt: Filter) -> str:
    kept = [np.dtype(t) for t in (np.uint8, np.uint16, np.float32, np.float64)]
    if all(flt.output_dtype(dtype) == dtype for dtype in kept):
        return "the dtype of ``data``"
    return str(flt.output_dtype(np.dtype(np.uint16)))


def _indented(text: str) -> list[str]:
    return textwrap.wrap(text, width=100, initial_indent="    ", subsequent_indent="    ")


def _docstring(flt: Filter) -> str:
    preview = (
        "Take the whole-image statistic (the threshold) from the coarsest level of a pyramid rather than "
        "from level 0: quicker, for a preview."
        if flt.statistic is not None
        else f"No effect on {flt.name}, which takes no whole-image statistic (as in ``apply_filter``)."
    )
    lines = [
        *textwrap.wrap(flt.doc, width=104),
        "",
        *textwrap.wrap(
            "Lazy, tile by tile: each tile is read with the margin the filter needs from its neighbours, so the "
            "result equals the whole-image function for any chunking. Channel and time axes are filtered plane by "
            "plane.",
            width=104,
        ),
        "",
        "Parameters",
        "----------",
        "data : array_like or list of array_like",
        *_indented("The image (a dask array, a zarr array, any array), or a pyramid's levels, finest first."),
        *(line for parameter in flt.parameters for line in _describe(parameter)),
        "spatial_axes : sequence of int, optional",
        *_indented("The axes filtered: by default the last two; ``(0, 1, 2)`` filters a volume in 3D."),
        "preview : bool, default False",
        *_indented(preview),
        "",
        "Returns",
        "-------",
        "dask.array.Array or list of dask.array.Array",
        *_indented(
            f"The lazy result ({_output(flt)}); for a pyramid, one per level, each computed from the same level "
            "of ``data`` with lengths scaled to it."
        ),
        "",
        "Raises",
        "------",
        "ValueError",
        *_indented("A parameter outside its range or choices, before any graph is built."),
        "",
        "See Also",
        "--------",
        "napari_zarr_tiles.apply_filter : The same filter by name.",
        "",
        "Examples",
        "--------",
        f">>> from napari_zarr_tiles.filters import {flt.name}",
        f">>> result = {flt.name}(image{''.join(f', {p.name}={p.default!r}' for p in flt.parameters if p.used_when is None)})",
    ]
    return "\n".join(lines) + "\n"


def _function(flt: Filter) -> Callable:
    """The typed function of ``flt``: its arguments bound to its signature, then given to ``apply_filter``."""
    signature = _signature(flt)

    def function(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as error:  # as Python says it for a function written out: with its name
            raise TypeError(f"{flt.name}() {error}") from None
        bound.apply_defaults()
        values = dict(bound.arguments)
        data, spatial_axes, preview = values.pop("data"), values.pop("spatial_axes"), values.pop("preview")
        return apply_filter(data, flt.name, spatial_axes=spatial_axes, preview=preview, **values)

    function.__signature__ = signature
    function.__doc__ = _docstring(flt)
    function.__name__ = function.__qualname__ = flt.name
    function.__module__ = __name__
    return function


def _stub() -> str:
    """The text of ``filters.pyi``: each function's signature and docstring, as made from the registry."""
    parts = [_STUB_HEADER, "__all__ = [\n" + "".join(f'    "{name}",\n' for name in sorted(__all__)) + "]\n"]
    for name in __all__:
        function = globals()[name]
        signature = inspect.signature(function)
        arguments = []
        for argument in signature.parameters.values():
            if argument.kind is Arg.KEYWORD_ONLY and "*" not in arguments:
                arguments.append("*")
            default = "" if argument.default is Arg.empty else f" = {argument.default!r}"
            arguments.append(f"{argument.name}: {argument.annotation}{default}")
        body = textwrap.indent(f'"""{function.__doc__}"""', "    ")
        parts.append(
            f"\ndef {name}(\n" + "".join(f"    {a},\n" for a in arguments) + f") -> {signature.return_annotation}:\n"
            + body + "\n"
        )
    return "\n".join(parts)


for _flt in FILTERS.values():
    globals()[_flt.name] = _function(_flt)
del _flt

__all__ = list(FILTERS)


def __dir__() -> list[str]:
    return sorted(__all__)


if __name__ == "__main__":
    Path(__file__).with_suffix(".pyi").write_text(_stub())
