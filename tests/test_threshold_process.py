"""A threshold's polarity and computed value through ``process`` and the command line, on a real image."""

import numpy as np
import pytest
import tifffile
import zarr
from conftest import DATA
from scipy import ndimage as ndi
from skimage.filters import threshold_li, threshold_otsu

from napari_zarr_tiles._cli import main
from napari_zarr_tiles._jobs import process, recorded_steps
from napari_zarr_tiles._store import WRITER_MARKER

BLOBS = DATA / "blobs.tif"


def test_process_thresholds_dark_objects_and_records_the_value_it_computed(tmp_path):
    blobs = tifffile.imread(BLOBS)
    written = process(BLOBS, tmp_path / "dark.zarr", [("threshold", {"method": "li", "polarity": "darker"})], tile=64)
    value = threshold_li(blobs)
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "dark.zarr" / "0", mode="r")[:], blobs <= value)
    [[name, params]] = zarr.open_group(written, mode="r").attrs[WRITER_MARKER]["provenance"]["steps"]
    assert name == "threshold" and params == {"method": "li", "value": pytest.approx(value), "polarity": "darker"}
    # the recorded steps run again give the same mask
    process(BLOBS, tmp_path / "again.zarr", recorded_steps(written), tile=64)
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "again.zarr" / "0", mode="r")[:], blobs <= value)


def test_the_process_command_prints_the_threshold_it_computed(tmp_path, capsys):
    value = threshold_otsu(ndi.median_filter(tifffile.imread(BLOBS), size=3))
    assert main(["process", str(BLOBS), str(tmp_path / "mask.zarr"), "median", "size=3", "+", "threshold"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {tmp_path / 'mask.zarr'}: median(size=3) threshold(method=otsu, value=")
    assert "polarity=brighter)" in out
    printed = float(out.split("value=")[1].split(",")[0])
    assert printed == pytest.approx(value) == recorded_steps(tmp_path / "mask.zarr")[1][1]["value"]
