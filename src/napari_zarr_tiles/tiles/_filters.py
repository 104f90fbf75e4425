"""The filter registry: name -> function, its parameters, its halo as a function of them, its output dtype.

Functions are scipy.ndimage's own, applied to one tile with its halo; the halo is what scipy would read
beyond the tile (gaussian: ceil(sigma * truncate); size-based: size // 2), so the result equals the
whole-image function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import ceil

import numpy as np
from scipy import ndimage as ndi

TRUNCATE = 4.0  # scipy's default for Gaussian kernels


@dataclass(frozen=True)
class Parameter:
    name: str
    default: float
    minimum: float
    maximum: float
    integer: bool = False


@dataclass(frozen=True)
class Filter:
    """One filter: how to run it on a tile, how far it reads beyond the tile, what it returns."""

    name: str
    function: Callable[..., np.ndarray]
    parameters: tuple[Parameter, ...]
    halo: Callable[..., int]
    output_dtype: Callable[[np.dtype], np.dtype]

    def checked(self, **params) -> dict:
        """``params`` completed with defaults and checked against the ranges, before any graph is built."""
        known = {parameter.name: parameter for parameter in self.parameters}
        unknown = set(params) - set(known)
        if unknown:
            raise ValueError(f"filter {self.name!r} has no parameter {sorted(unknown)}; it takes {sorted(known)}")
        values = {}
        for name, parameter in known.items():
            value = params.get(name, parameter.default)
            if parameter.integer and float(value) != int(value):
                raise ValueError(f"{self.name}: {name} must be a whole number, got {value}")
            value = int(value) if parameter.integer else float(value)
            if not parameter.minimum <= value <= parameter.maximum:
                raise ValueError(f"{self.name}: {name}={value} is outside [{parameter.minimum}, {parameter.maximum}]")
            values[name] = value
        return values


def _float32(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float32)


def _same(dtype: np.dtype) -> np.dtype:
    return np.dtype(dtype)


def _gaussian(tile: np.ndarray, *, sigma: float) -> np.ndarray:
    return ndi.gaussian_filter(tile.astype(np.float32, copy=False), sigma, truncate=TRUNCATE)


def _mean(tile: np.ndarray, *, size: int) -> np.ndarray:
    return ndi.uniform_filter(tile.astype(np.float32, copy=False), size=size)


def _laplace_of_gaussian(tile: np.ndarray, *, sigma: float) -> np.ndarray:
    return ndi.gaussian_laplace(tile.astype(np.float32, copy=False), sigma, truncate=TRUNCATE)


def _difference_of_gaussians(tile: np.ndarray, *, sigma_low: float, sigma_high: float) -> np.ndarray:
    tile = tile.astype(np.float32, copy=False)
    return ndi.gaussian_filter(tile, sigma_low, truncate=TRUNCATE) - ndi.gaussian_filter(tile, sigma_high, truncate=TRUNCATE)


def _sobel(tile: np.ndarray) -> np.ndarray:
    """Gradient magnitude: the Sobel derivatives along each axis, combined."""
    tile = tile.astype(np.float32, copy=False)
    return np.sqrt(sum(ndi.sobel(tile, axis=axis) ** 2 for axis in range(tile.ndim)))


def _size_filter(function):
    def apply(tile: np.ndarray, *, size: int) -> np.ndarray:
        return function(tile, size=size)

    return apply


SIZE = (Parameter("size", 3, 1, 101, integer=True),)

FILTERS: dict[str, Filter] = {
    "gaussian": Filter(
        "gaussian", _gaussian, (Parameter("sigma", 2.0, 0.1, 100.0),),
        halo=lambda sigma: ceil(sigma * TRUNCATE), output_dtype=_float32,
    ),
    "mean": Filter("mean", _mean, SIZE, halo=lambda size: size // 2, output_dtype=_float32),
    "laplace_of_gaussian": Filter(
        "laplace_of_gaussian", _laplace_of_gaussian, (Parameter("sigma", 2.0, 0.1, 100.0),),
        halo=lambda sigma: ceil(sigma * TRUNCATE), output_dtype=_float32,
    ),
    "difference_of_gaussians": Filter(
        "difference_of_gaussians", _difference_of_gaussians,
        (Parameter("sigma_low", 1.0, 0.1, 100.0), Parameter("sigma_high", 3.0, 0.1, 100.0)),
        halo=lambda sigma_low, sigma_high: ceil(max(sigma_low, sigma_high) * TRUNCATE), output_dtype=_float32,
    ),
    "sobel": Filter("sobel", _sobel, (), halo=lambda: 1, output_dtype=_float32),
    "median": Filter("median", _size_filter(ndi.median_filter), SIZE, halo=lambda size: size // 2, output_dtype=_same),
    "minimum": Filter("minimum", _size_filter(ndi.minimum_filter), SIZE, halo=lambda size: size // 2, output_dtype=_same),
    "maximum": Filter("maximum", _size_filter(ndi.maximum_filter), SIZE, halo=lambda size: size // 2, output_dtype=_same),
}


def get_filter(name: str) -> Filter:
    try:
        return FILTERS[name]
    except KeyError:
        raise ValueError(f"unknown filter {name!r}; choose one of {', '.join(FILTERS)}") from None
