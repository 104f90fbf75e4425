"""OME-Zarr 0.1, 0.2 and 0.3 images, built by hand from each version's specification, read with their axes.

0.1 and 0.2 name no axes: their images are 5D, t, c, z, y, x. 0.2 changed the chunk keys' separator to "/".
0.3 names the axes as a list of strings from t, c, z, y, x. None of them has coordinate transformations: the
scale is 1.
"""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from napari_zarr_tiles._cli import main
from napari_zarr_tiles._reader import napari_get_reader


def write_old_image(path, levels, version, *, axes=None, omero=None, separator="."):
    root = zarr.open_group(path, mode="w", zarr_format=2)
    for index, level in enumerate(levels):
        array = root.create_array(
            str(index), shape=level.shape, dtype=level.dtype, chunks=level.shape,
            chunk_key_encoding={"name": "v2", "separator": separator},
        )
        array[...] = level
    multiscale = {"version": version, "name": "old", "datasets": [{"path": str(i)} for i in range(len(levels))]}
    if axes is not None:
        multiscale["axes"] = axes
    root.attrs["multiscales"] = [multiscale]
    if omero:
        root.attrs["omero"] = omero
    return root


def pyramid(shape, dtype="uint16"):
    level0 = np.random.default_rng(3).integers(0, 1000, size=shape).astype(dtype)
    return [level0, level0[..., ::2, ::2]]


def read(path):
    reader = napari_get_reader(str(path))
    assert reader is not None
    return reader(str(path))


@pytest.mark.parametrize(("version", "separator"), [("0.1", "."), ("0.2", "/")])
def test_0_1_and_0_2_images_are_tczyx_as_their_specifications_say(tmp_path, version, separator):
    levels = pyramid((2, 3, 4, 64, 48))
    omero = {"channels": [{"label": "DAPI", "color": "0000FF", "window": {"start": 0, "end": 900}},
                          {"label": "GFP", "color": "00FF00"}, {"label": "RFP", "color": "FF0000"}]}
    write_old_image(tmp_path / "old.zarr", levels, version, omero=omero, separator=separator)
    layers = read(tmp_path / "old.zarr")
    assert [kwargs["name"] for _, kwargs, _ in layers] == ["DAPI", "GFP", "RFP"]
    for channel, (data, kwargs, layer_type) in enumerate(layers):
        assert layer_type == "image" and kwargs["axis_labels"] == ["t", "z", "y", "x"]
        assert kwargs["scale"] == [1.0] * 4 and kwargs["translate"] == [0.0] * 4 and kwargs["multiscale"]
        np.testing.assert_array_equal(np.asarray(data[0]), levels[0][:, channel])
        np.testing.assert_array_equal(np.asarray(data[1]), levels[1][:, channel])
    assert layers[0][1]["contrast_limits"] == (0.0, 900.0)


def test_a_0_1_image_of_fewer_dimensions_takes_the_last_of_tczyx(tmp_path):
    levels = pyramid((4, 64, 48))
    write_old_image(tmp_path / "old.zarr", levels, "0.1")
    [(data, kwargs, _)] = read(tmp_path / "old.zarr")
    assert kwargs["axis_labels"] == ["z", "y", "x"]
    np.testing.assert_array_equal(np.asarray(data[0]), levels[0])


def test_0_3_images_name_their_axes_as_strings(tmp_path):
    levels = pyramid((2, 64, 48))
    write_old_image(tmp_path / "old.zarr", levels, "0.3", axes=["c", "y", "x"], separator="/")
    layers = read(tmp_path / "old.zarr")
    assert len(layers) == 2
    for channel, (data, kwargs, _) in enumerate(layers):
        assert kwargs["axis_labels"] == ["y", "x"] and kwargs["scale"] == [1.0, 1.0]
        np.testing.assert_array_equal(np.asarray(data[0]), levels[0][channel])
    write_old_image(tmp_path / "z.zarr", pyramid((5, 64, 48)), "0.3", axes=["z", "y", "x"])
    [(_, kwargs, _)] = read(tmp_path / "z.zarr")
    assert kwargs["axis_labels"] == ["z", "y", "x"]


def test_a_0_3_image_with_labels_opens_them(tmp_path):
    root = write_old_image(tmp_path / "old.zarr", pyramid((64, 48)), "0.3", axes=["y", "x"])
    labels = root.create_group("labels")
    labels.attrs["labels"] = ["nuclei"]
    nuclei = np.zeros((64, 48), np.uint16)
    nuclei[10:20, 5:15] = 3
    write_old_image(tmp_path / "old.zarr" / "labels" / "nuclei", [nuclei, nuclei[::2, ::2]], "0.3", axes=["y", "x"])
    nuclei_group = zarr.open_group(tmp_path / "old.zarr" / "labels" / "nuclei", mode="a", zarr_format=2)
    nuclei_group.attrs["image-label"] = {"version": "0.3", "colors": [{"label-value": 3, "rgba": [0, 255, 0, 255]}]}
    _, label = read(tmp_path / "old.zarr")
    assert label[2] == "labels" and label[1]["name"] == "nuclei"
    np.testing.assert_array_equal(np.asarray(label[0][0]), nuclei)


def test_the_axes_of_0_3_must_match_the_arrays(tmp_path):
    from napari_zarr_tiles._errors import OmeMetadataError

    write_old_image(tmp_path / "old.zarr", pyramid((64, 48)), "0.3", axes=["z", "y", "x"])
    with pytest.raises(OmeMetadataError, match=r"axes \['z', 'y', 'x'\] \(3\) do not match the 2 dimensions of array '0'"):
        read(tmp_path / "old.zarr")


def test_ome_zarr_py_reads_the_same_0_1_image_alike(tmp_path):
    """ome-zarr-py, the reference reader, sees the same 5 axes and pixels in the hand-built 0.1 store."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    levels = pyramid((1, 2, 1, 32, 32))
    write_old_image(tmp_path / "old.zarr", levels, "0.1")
    [node] = list(Reader(parse_url(str(tmp_path / "old.zarr")))())
    reference_axes = [axis["name"] if isinstance(axis, dict) else axis for axis in node.metadata["axes"]]
    assert reference_axes == ["t", "c", "z", "y", "x"]
    ours = read(tmp_path / "old.zarr")
    for channel, (data, _, _) in enumerate(ours):
        np.testing.assert_array_equal(np.asarray(data[0]), np.asarray(node.data[0])[:, channel])


def test_info_shows_the_axes_each_old_version_implies_or_names(tmp_path, capsys):
    write_old_image(tmp_path / "v1.zarr", pyramid((1, 2, 1, 32, 32)), "0.1")
    write_old_image(tmp_path / "v3.zarr", pyramid((2, 32, 32)), "0.3", axes=["c", "y", "x"])
    assert main(["info", str(tmp_path / "v1.zarr")]) == 0
    out = capsys.readouterr().out
    assert "OME-NGFF 0.1 image, axes t:time c:channel z:space y:space x:space (implied by 0.1), 2 pyramid level(s)" in out
    assert "not supported" not in out and "MALFORMED" not in out
    assert main(["info", str(tmp_path / "v3.zarr")]) == 0
    assert "OME-NGFF 0.3 image, axes c:channel y:space x:space, 2 pyramid level(s)" in capsys.readouterr().out
