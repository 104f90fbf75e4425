import pytest
import zarr
from conftest import YX, ome_group, write_ome_image

from napari_zarr_tiles._cli import main


def test_info_describes_the_tree(tmp_path, blobs, capsys):
    root = ome_group(tmp_path / "img.zarr", "0.4")
    write_ome_image(root, [blobs, blobs[::2, ::2]], YX, version="0.4", chunks=(100, 100))
    sharded = zarr.create_array(tmp_path / "sharded", shape=(400, 400), chunks=(100, 100), shards=(200, 200), dtype="u1")
    sharded[:200, :200] = 1
    assert main(["info", str(tmp_path / "img.zarr")]) == 0
    out = capsys.readouterr().out
    assert "OME-NGFF 0.4 image, axes y:space x:space, 2 pyramid level(s)" in out
    assert "0: shape (254, 256) uint8 chunks (100, 100)" in out and "9/9 chunks present" in out
    assert "1: shape (127, 128)" in out and "zarr v2" in out
    assert main(["info", str(tmp_path / "sharded")]) == 0
    out = capsys.readouterr().out
    assert "shards (200, 200)" in out and "4/16 chunks present" in out and "zarr v3" in out


def test_info_on_a_missing_path_fails_clearly(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope")]) == 1
    assert "no zarr store" in capsys.readouterr().err


def test_filters_lists_every_filter_with_its_parameters(capsys):
    from napari_zarr_tiles.tiles._filters import FILTERS

    assert main(["filters"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out if not line.startswith(" ")] == list(FILTERS)  # NaN lines indented
    assert any(line.startswith("gaussian") and "sigma=2 [0.1..100]" in line for line in out)


@pytest.mark.parametrize("command", ["convert", "process", "info", "filters", "demo"])
def test_every_command_explains_itself_and_the_write_commands_advise_on_compressors(command, capsys):
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    assert exit.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "usage: napari-zarr-tiles" in out
    if command in ("convert", "process"):
        assert "writes float results" in out and "three times faster" in out
