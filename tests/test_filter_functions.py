"""The typed filter functions (napari_zarr_tiles.filters): one per registry filter, with the registry's
signature and docs, the same results and errors as apply_filter, a stub for static analysers, a cheap import."""

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from conftest import assert_same_result
from scipy import ndimage as ndi

import napari_zarr_tiles
from napari_zarr_tiles import apply_filter, filters
from napari_zarr_tiles.tiles import FILTERS

KEYWORD_ONLY = [("spatial_axes", None), ("preview", False)]


@pytest.fixture
def image(blobs):
    """blobs in chunks that do not divide its shape (254 x 256 in 100 x 90)."""
    return da.from_array(blobs, chunks=(100, 90))


def test_every_registry_filter_has_a_function_listed_and_named():
    assert filters.__all__ == list(FILTERS)
    assert dir(filters) == sorted(FILTERS)
    assert napari_zarr_tiles.filters is filters and "filters" in napari_zarr_tiles.__all__
    for name in FILTERS:
        function = getattr(filters, name)
        assert (function.__name__, function.__qualname__, function.__module__) == (
            name, name, "napari_zarr_tiles.filters"
        )


@pytest.mark.parametrize("name", list(FILTERS))
def test_signature_and_docstring_follow_the_registry(name):
    flt = FILTERS[name]
    signature = inspect.signature(getattr(filters, name))
    arguments = list(signature.parameters.values())
    assert [(a.name, a.kind, a.default) for a in arguments] == [
        ("data", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty),
        *((p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, p.default) for p in flt.parameters),
        *((keyword, inspect.Parameter.KEYWORD_ONLY, default) for keyword, default in KEYWORD_ONLY),
    ]
    doc = getattr(filters, name).__doc__
    assert " ".join(doc.split()).startswith(flt.doc)
    for parameter in flt.parameters:
        annotation = signature.parameters[parameter.name].annotation
        if parameter.choices:
            assert annotation == f"Literal[{', '.join(map(repr, parameter.choices))}]"
            assert f"{parameter.name} : {{{', '.join(map(repr, parameter.choices))}}}, default {parameter.default!r}" in doc
        else:
            kind = "int" if parameter.integer else "float"
            assert annotation == kind and f"{parameter.name} : {kind}, default {parameter.default!r}" in doc
        if np.isfinite(parameter.maximum):
            assert f"From {parameter.minimum:g} to {parameter.maximum:g}." in " ".join(doc.split())
    for section in ("Parameters", "Returns", "Raises"):
        assert f"\n{section}\n{'-' * len(section)}\n" in doc


@pytest.mark.parametrize("name", list(FILTERS))
def test_result_equals_apply_filter(image, name):
    np.testing.assert_array_equal(getattr(filters, name)(image).compute(), apply_filter(image, name).compute())


def test_parameters_positional_or_by_name_pyramids_and_volumes(image, blobs):
    expected = apply_filter(image, "gaussian", sigma=3.0).compute()
    np.testing.assert_array_equal(filters.gaussian(image, 3.0).compute(), expected)
    np.testing.assert_array_equal(filters.gaussian(data=image, sigma=3.0).compute(), expected)
    # a pyramid: a list of results, level by level, lengths scaled to each level
    levels = [image, image[::2, ::2]]
    results = filters.median(levels, size=5)
    assert isinstance(results, list) and len(results) == 2
    for result, reference in zip(results, apply_filter(levels, "median", size=5)):
        np.testing.assert_array_equal(result.compute(), reference.compute())
    # a volume filtered in 3D
    volume = da.from_array(np.stack([blobs, blobs[::-1], blobs[:, ::-1]]), chunks=(2, 100, 90))
    assert_same_result(
        filters.maximum(volume, 3, spatial_axes=(0, 1, 2)).compute(), ndi.maximum_filter(np.asarray(volume), 3)
    )
    # whole-image statistics from the coarsest level, as apply_filter takes them
    np.testing.assert_array_equal(
        filters.threshold(levels, method="li", preview=True)[0].compute(),
        apply_filter(levels, "threshold", method="li", preview=True)[0].compute(),
    )


def test_results_equal_scipy_on_the_whole_image(image, blobs):
    assert_same_result(filters.gaussian(image, sigma=2.5).compute(), ndi.gaussian_filter(blobs.astype(np.float32), 2.5))
    assert_same_result(filters.median(image, size=5).compute(), ndi.median_filter(blobs, 5))
    assert_same_result(filters.threshold(image, "value", value=100).compute(), (blobs > 100).astype(np.uint8))


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("gaussian", {"sigma": 0.0}),  # outside its range
        ("median", {"size": 2.5}),  # not a whole number
        ("mean", {"size": "big"}),  # not a number
        ("threshold", {"method": "mode"}),  # not one of the choices
    ],
)
def test_bad_parameters_raise_what_apply_filter_raises(image, name, params):
    with pytest.raises(ValueError) as by_name:
        apply_filter(image, name, **params)
    with pytest.raises(ValueError) as typed:
        getattr(filters, name)(image, **params)
    assert str(typed.value) == str(by_name.value)


def test_unknown_or_missing_arguments_are_told_as_python_tells_them(image):
    with pytest.raises(TypeError, match=r"^gaussian\(\) got an unexpected keyword argument 'size'$"):
        filters.gaussian(image, size=3)
    with pytest.raises(TypeError, match=r"^sobel\(\) missing a required argument: 'data'$"):
        filters.sobel()
    with pytest.raises(TypeError, match=r"^median\(\) too many positional arguments$"):
        filters.median(image, 3, (0, 1))  # spatial_axes is keyword-only


def test_stub_is_written_from_the_registry_and_declares_each_signature():
    stub_path = Path(filters.__file__).with_suffix(".pyi")
    text = stub_path.read_text()
    assert text == filters._stub(), "run `python -m napari_zarr_tiles.filters` to rewrite filters.pyi"
    declared = {node.name: node for node in ast.parse(text).body if isinstance(node, ast.FunctionDef)}
    assert list(declared) == list(FILTERS)
    for name, node in declared.items():
        signature = inspect.signature(getattr(filters, name))
        positional = [(a.arg, ast.unparse(a.annotation)) for a in node.args.args]
        keywords = [(a.arg, ast.unparse(a.annotation)) for a in node.args.kwonlyargs]
        defaults = [ast.literal_eval(d) for d in [*node.args.defaults, *node.args.kw_defaults]]
        assert [*positional, *keywords] == [(a.name, a.annotation) for a in signature.parameters.values()]
        assert defaults == [a.default for a in signature.parameters.values() if a.default is not inspect.Parameter.empty]
        assert ast.get_docstring(node) == inspect.cleandoc(getattr(filters, name).__doc__)


def test_static_completion_sees_the_functions():
    # jedi (IPython's completer, and editors' through it) reads source without running it: the stub is what
    # it sees of the functions made at import time.
    jedi = pytest.importorskip("jedi")
    project = jedi.Project(Path.cwd(), sys_path=[str(Path(filters.__file__).parents[1])])
    script = jedi.Script("from napari_zarr_tiles.filters import white_tophat\nwhite_tophat(", project=project)
    [signature] = script.get_signatures(2, 13)
    assert [p.name for p in signature.params] == ["data", "radius", "spatial_axes", "preview"]
    assert "radius: int=10" in signature.to_string()
    completions = jedi.Script("from napari_zarr_tiles.filters import ", project=project).complete(1, 38)
    assert set(FILTERS) <= {completion.name for completion in completions}


def test_importing_the_functions_imports_neither_zarr_nor_napari_nor_qt():
    code = (
        "import sys\n"
        "from napari_zarr_tiles.filters import gaussian\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'zarr', 'napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide6'}))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
