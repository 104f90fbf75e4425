"""HCS plates: a plate opens as a lazy mosaic of its wells, a well opens as its fields."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from plate_stores import COLUMNS, FIELDS, MISSING, ROWS, field_levels, open_written, write_plate

from napari_zarr_tiles import _plate
from napari_zarr_tiles._errors import OmeMetadataError
from napari_zarr_tiles._reader import napari_get_reader


def read(path):
    reader = napari_get_reader(str(path))
    assert reader is not None
    return reader(str(path))


def cells(data: np.ndarray, well_edge: int, gap: int):
    """Each (row, column) cell of a 2D mosaic and the gap pixels after it."""
    for row in range(len(ROWS)):
        for column in range(len(COLUMNS)):
            top, left = row * (well_edge + gap), column * (well_edge + gap)
            yield row, column, data[top : top + well_edge, left : left + well_edge]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_plate_opens_as_a_mosaic_of_each_wells_first_field_at_the_level_that_fits(tmp_path, version, monkeypatch):
    # 64-pixel wells: at 600 pixels the plate fits from level 1 (32 pixels a well) on, not at level 0
    monkeypatch.setattr(_plate, "MOSAIC_EDGE", 600)
    path = write_plate(tmp_path / "plate.zarr", version)
    layers = read(path)
    assert [layer_type for _, _, layer_type in layers] == ["image", "image"]  # the wells' names on request
    edge, gap = 32, 3
    for channel, (data, kwargs, _) in enumerate(layers[:2]):
        assert data.shape == (8 * (edge + gap) - gap, 12 * (edge + gap) - gap)
        assert kwargs["scale"] == [1.0, 1.0]  # level 1 of a 0.5 micrometer field
        assert kwargs["units"] == ["micrometer", "micrometer"] and kwargs["axis_labels"] == ["y", "x"]
        assert kwargs["name"] == f"screen [{channel}]" and kwargs["blending"] == "additive"
        assert kwargs["metadata"]["plate"] == {"level": 1, "field": "0", "cell": [35.0, 35.0], "origin": [0.0, 0.0]}
        mosaic = np.asarray(data)
        for row, column, cell in cells(mosaic, edge, gap):
            if f"{ROWS[row]}{COLUMNS[column]}" in MISSING:
                assert not cell.any()
            else:
                np.testing.assert_array_equal(cell, field_levels(row, column, 0)[1][channel])
        assert not mosaic[edge : edge + gap].any() and not mosaic[:, edge : edge + gap].any()  # the gaps


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_wells_stored_unlike_the_first_are_read_with_their_own_metadata(tmp_path, version, monkeypatch, qtbot):
    """The first well's parsed metadata serves the wells whose metadata document is the same; a well stored
    otherwise is read by its own, cut or padded to the first's cell. Each here has as many bytes as the
    first's, so that read with the first's metadata it would decode, wrongly."""
    import shutil

    from plate_stores import write_array

    path = write_plate(tmp_path / "plate.zarr", version)
    rng = np.random.default_rng(3)
    unlike = {"A2": rng.integers(0, 4000, (2, 128, 32)).astype(np.uint16),  # taller and narrower
              "D5": rng.integers(0, 2000, (2, 64, 64)).astype(np.float16)}  # whole numbers, as floats
    for name, values in unlike.items():
        level = path / name[0] / name[1:] / "0" / "0"
        shutil.rmtree(level)
        write_array(level, values, version)
    told = []
    monkeypatch.setattr("napari_zarr_tiles._reader._warn", told.append)
    data = read(path)[1][0]  # channel 1
    mosaic, edge, gap = np.asarray(data), 64, 6
    qtbot.waitUntil(lambda: len(told) > 0, timeout=10_000)
    assert told == [f"{path}: wells not shown as stored: D5 is stored as float16: shown as uint16, the first well's"]
    for row, column, cell in cells(mosaic, edge, gap):
        name = f"{ROWS[row]}{COLUMNS[column]}"
        if name == "A2":
            np.testing.assert_array_equal(cell[:, :32], unlike[name][1, :64])
            assert not cell[:, 32:].any()
        elif name == "D5":
            np.testing.assert_array_equal(cell, unlike[name][1])
        elif name not in MISSING:
            np.testing.assert_array_equal(cell, field_levels(row, column, 0)[0][1])


def test_the_finest_level_is_taken_where_the_whole_plate_fits(tmp_path):
    path = write_plate(tmp_path / "plate.zarr", "0.4")
    data, kwargs, _ = read(path)[0]
    assert kwargs["metadata"]["plate"]["level"] == 0 and kwargs["scale"] == [0.5, 0.5]
    np.testing.assert_array_equal(np.asarray(data)[:64, 70:134], field_levels(0, 1, 0)[0][0])  # A2, after a 6-pixel gap


def test_opening_a_plate_reads_each_wells_mosaic_level_once_and_nothing_else(tmp_path, faults):
    """The mosaic fits a screen, so the first frame draws every well: they are fetched as the plate opens
    (the contrast's wells first), each once, the mosaic's level (0) of the first field and nothing else."""
    path = write_plate(tmp_path / "plate.zarr", "0.5")
    layers = read(path)
    data = layers[0][0]
    pitch = data.chunks  # a well and its gap along Y and X
    data[3 * pitch[0] : 4 * pitch[0], 4 * pitch[1] : 5 * pitch[1]]  # well D5 (waits for it if not yet read)
    np.asarray(data)
    np.asarray(layers[1][0])  # the other channel's layer: the same tiles
    chunks = [key for key in faults.reads if "/c/" in key]
    stored = {f"{ROWS[row]}/{COLUMNS[column]}" for row in range(len(ROWS)) for column in range(len(COLUMNS))
              if f"{ROWS[row]}{COLUMNS[column]}" not in MISSING}
    assert {key.split("/0/0/c/")[0] for key in chunks} == stored
    assert all("/0/0/c/" in key for key in chunks) and len(chunks) == len(set(chunks)) == len(stored)


def test_a_well_the_plate_lists_but_that_is_not_stored_shows_blank_and_is_named(tmp_path, monkeypatch, qtbot):
    path = write_plate(tmp_path / "plate.zarr", "0.4")
    import shutil

    shutil.rmtree(path / "E" / "4")
    told = []
    monkeypatch.setattr("napari_zarr_tiles._reader._warn", told.append)
    data = read(path)[0][0]
    mosaic = np.asarray(data)
    assert not mosaic[4 * 70 : 4 * 70 + 64, 3 * 70 : 3 * 70 + 64].any()
    np.testing.assert_array_equal(mosaic[4 * 70 : 4 * 70 + 64, 4 * 70 : 4 * 70 + 64], field_levels(4, 4, 0)[0][0])
    # told on Qt's main thread (the well is read on dask's): handled once Qt's events are
    qtbot.waitUntil(lambda: len(told) > 0, timeout=10_000)
    assert told == [f"{path}: wells not shown as stored: E4 is not stored: shown blank"]


def test_a_well_whose_field_lacks_the_mosaics_level_is_named_for_that(tmp_path, monkeypatch, qtbot):
    """Not "is not stored": the well and its field are there, the level the mosaic shows is not."""
    import shutil

    path = write_plate(tmp_path / "plate.zarr", "0.4")
    shutil.rmtree(path / "A" / "2" / "0" / "0")
    told = []
    monkeypatch.setattr("napari_zarr_tiles._reader._warn", told.append)
    mosaic = np.asarray(read(path)[0][0])
    assert not mosaic[:64, 70 : 70 + 64].any()
    qtbot.waitUntil(lambda: len(told) > 0, timeout=10_000)
    assert told == [f"{path}: wells not shown as stored: A2: its field '0' has no level '0' (the mosaic's): shown blank"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda plate: plate["wells"].append({"path": "Z/1", "rowIndex": 9, "columnIndex": 0}),
         "plate wells[93] ('Z/1') is not on the plate's 8 x 12 grid"),
        (lambda plate: plate.update(rows="ABC"), "plate rows[0] has no 'name'"),
        (lambda plate: plate.update(wells=[]), "the plate lists no wells"),
    ],
)
def test_malformed_plate_metadata_is_refused_naming_the_field(tmp_path, change, message):
    path = write_plate(tmp_path / "plate.zarr", "0.4")
    root = zarr.open_group(path, mode="a", zarr_format=2)
    plate = root.attrs["plate"]
    change(plate)
    root.attrs["plate"] = plate
    with pytest.raises(OmeMetadataError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        read(path)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_well_opened_alone_shows_its_fields_side_by_side_with_their_labels(tmp_path, version):
    write_plate(tmp_path / "plate.zarr", version)
    layers = read(tmp_path / "plate.zarr" / "A" / "1")
    names = [(kwargs["name"], layer_type) for _, kwargs, layer_type in layers]
    assert names == [
        ("A1 field 0 [0]", "image"), ("A1 field 0 [1]", "image"), ("cells (field 0)", "labels"),
        ("A1 field 1 [0]", "image"), ("A1 field 1 [1]", "image"),
    ]
    first, second = layers[0], layers[3]
    assert first[1]["translate"] == [0.0, 0.0] and second[1]["translate"] == [0.0, pytest.approx(64 * 0.5 * 1.1)]
    assert first[1]["multiscale"] and len(second[0]) == 3
    np.testing.assert_array_equal(np.asarray(second[0][0]), field_levels(0, 0, 1)[0][0])
    assert layers[2][1]["translate"] == [0.0, 0.0]


@pytest.mark.parametrize("storage", ["default", "blosc in big chunks"])
def test_the_plate_of_ome_zarr_py_equals_napari_ome_zarrs_mosaic_where_each_well_lies(tmp_path, storage, monkeypatch):
    """ome-zarr-py writes the plate; napari-ome-zarr's reader is the reference for what lies in each well
    (it stitches wells without a gap, at every level). With one chunk size for every level, the mosaic's
    level is stored padded in bigger Blosc chunks, and only their start is decoded (``_chunk_prefix``)."""
    from napari_ome_zarr._reader import napari_get_reader as reference_reader
    from numcodecs import Blosc

    from napari_zarr_tiles import _chunk_prefix

    decoded = []
    decode_start = _chunk_prefix._decode_start
    monkeypatch.setattr(_chunk_prefix, "_decode_start", lambda *args: decoded.append(args[1]) or decode_start(*args))
    options = {"chunks": (1, 256, 256), "compressor": Blosc()} if storage != "default" else None
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata

    path = tmp_path / "written.zarr"
    root = zarr.open_group(path, mode="w", zarr_format=2)
    rows, columns = ["A", "B"], ["1", "2", "3"]
    wells = ["A/1", "A/2", "A/3", "B/1", "B/3"]
    write_plate_metadata(root, rows, columns, wells, fmt=FormatV04(), field_count=1)
    rng = np.random.default_rng(7)
    for well in wells:
        group = root.require_group(well)
        write_well_metadata(group, ["0"], fmt=FormatV04())
        write_image(rng.integers(0, 255, (2, 128, 128), dtype=np.uint8), group.require_group("0"), axes="cyx",
                    fmt=FormatV04(), scale_factors=(2, 4), storage_options=options)
    ours = read(path)
    level = ours[0][1]["metadata"]["plate"]["level"]
    assert level == 0  # 3 x 128 pixels fit
    reference = reference_reader(str(path))(str(path))
    [(reference_levels, _, _)] = reference
    stitched = np.asarray(reference_levels[level])  # (channel, y, x)
    gap = 13
    for channel in range(2):
        mosaic = np.asarray(ours[channel][0])
        for row in range(2):
            for column in range(3):
                cell = mosaic[row * (128 + gap) : row * (128 + gap) + 128, column * (128 + gap) : column * (128 + gap) + 128]
                expected = stitched[channel, row * 128 : (row + 1) * 128, column * 128 : (column + 1) * 128]
                np.testing.assert_array_equal(cell, expected)
    # each well's two channel chunks decoded up to the level's last item (row 127, column 127 of 256), or none
    assert decoded == ([127 * 256 + 128] * 2 * len(wells) if storage != "default" else [])


def test_an_ome_zarr_0_3_plate_places_its_wells_by_their_paths(tmp_path):
    """Before 0.4 wells carry no row and column indices: their paths end in the row's and column's names."""
    path = write_plate(tmp_path / "plate.zarr", "0.4")
    root = zarr.open_group(path, mode="a", zarr_format=2)
    plate = root.attrs["plate"]
    plate["wells"] = [{"path": well["path"]} for well in plate["wells"]]
    plate["version"] = "0.3"
    root.attrs["plate"] = plate
    opened = _plate.open_plate(path)
    assert opened.layout.wells[13] == _plate._ome.WellPlace("B/2", 1, 1, "B2")
    assert opened.fields(opened.well("B2")) == list(FIELDS)


def test_open_plate_refuses_an_image(tmp_path):
    path = write_plate(tmp_path / "plate.zarr", "0.4")
    with pytest.raises(OmeMetadataError, match="not an OME-Zarr plate"):
        _plate.open_plate(path / "A" / "1" / "0")
    assert open_written(path, "0.4").attrs["plate"]["field_count"] == 2


def test_a_corrupt_chunk_of_a_well_shows_the_fill_value_and_is_named(tmp_path, monkeypatch, qtbot):
    path = write_plate(tmp_path / "plate.zarr", "0.4")
    chunk = path / "F" / "6" / "0" / "0" / "0" / "0" / "0"
    chunk.write_bytes(chunk.read_bytes()[:100])  # truncated: zarr cannot decode it
    told = []
    monkeypatch.setattr("napari_zarr_tiles._reader._warn", told.append)
    mosaic = np.asarray(read(path)[0][0])
    assert not mosaic[5 * 70 : 5 * 70 + 64, 5 * 70 : 5 * 70 + 64].any()
    np.testing.assert_array_equal(mosaic[5 * 70 : 5 * 70 + 64, 6 * 70 : 6 * 70 + 64], field_levels(5, 6, 0)[0][0])
    qtbot.waitUntil(lambda: len(told) > 0, timeout=10_000)  # told on Qt's main thread, as above
    assert len(told) == 1 and "array 'F/6/0/0'" in told[0] and "chunk(s) 0/0/0 cannot be read" in told[0]


def test_info_summarises_a_plate_and_says_what_is_wrong_with_a_malformed_one(tmp_path, capsys):
    from napari_zarr_tiles._cli import main

    path = write_plate(tmp_path / "plate.zarr", "0.5")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  OME-NGFF 0.5 plate: 8 rows x 12 columns (A1 to H12), 93 wells, up to 2 fields each\n" in out
    assert "      OME-NGFF 0.5 well: {'images': [{'path': '0'}, {'path': '1'}]}" in out
    root = zarr.open_group(path, mode="a", zarr_format=3)
    attributes = root.attrs["ome"]
    attributes["plate"]["wells"][0]["rowIndex"] = 20
    root.attrs["ome"] = attributes
    assert main(["info", str(path)]) == 0
    assert "plate: MALFORMED: /: plate wells[0] ('A/1') is not on the plate's 8 x 12 grid" in capsys.readouterr().out


def test_a_plate_whose_first_well_is_not_stored_opens_from_the_next(tmp_path, monkeypatch, qtbot):
    import shutil

    path = write_plate(tmp_path / "plate.zarr", "0.4")
    shutil.rmtree(path / "A" / "1")
    told = []
    monkeypatch.setattr("napari_zarr_tiles._reader._warn", told.append)
    mosaic = np.asarray(read(path)[1][0])
    assert not mosaic[:64, :64].any()
    np.testing.assert_array_equal(mosaic[:64, 70:134], field_levels(0, 1, 0)[0][1])
    qtbot.waitUntil(lambda: len(told) > 0, timeout=10_000)
    assert told == [f"{path}: wells not shown as stored: A1 is not stored: shown blank"]
    for row in ROWS:  # no well left: the first one's absence is the error
        shutil.rmtree(path / row, ignore_errors=True)
    with pytest.raises(OmeMetadataError, match="the plate lists 'A/1', but there is no such group"):
        read(path)


def test_the_mosaics_contrast_comes_from_wells_spread_over_the_plate(tmp_path):
    """The first well dimmer than the others (0-99 against 0-3999): its range alone showed the rest white."""
    path = write_plate(tmp_path / "plate.zarr", "0.4")
    for level in range(3):
        array = zarr.open_array(path / "A" / "1" / "0" / str(level), mode="r+", zarr_format=2)
        array[...] = array[...] // 40
    for data, kwargs, _ in read(path)[:2]:
        low, high = kwargs["contrast_limits"]
        assert low < 100 and high > 3500, kwargs["contrast_limits"]


def test_a_plate_over_http_shows_the_same_mosaic_its_wells_fetched_together(tmp_path):
    """Served with 50 ms a request, the 93 wells' 280 requests (metadata and tile) come in bursts: 37 round
    trips here, where reading well after well took 98 (6 s to the first frame where it is now 2.4 s)."""
    from servers import http_server

    from napari_zarr_tiles import _location

    path = write_plate(tmp_path / "served" / "plate.zarr", "0.4")
    local = [np.asarray(data) for data, _, _ in read(path)]
    _location._opened.clear()
    with http_server(path.parent, delay=0.05) as server:
        remote = read(f"{server.url}/plate.zarr")
        for (data, kwargs, kind), expected in zip(remote, local):
            assert kind == "image"
            np.testing.assert_array_equal(np.asarray(data), expected)
        chunk_requests = [line for line in server.requests if "/0/0/0/" in line]  # a well's field 0, level 0
        assert len(chunk_requests) == len(ROWS) * len(COLUMNS) - len(MISSING)
        assert server.round_trips() < 60, server.round_trips()
    _location._opened.clear()


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_zipped_plate_shows_the_folders_mosaic_and_opens_its_wells_fields(tmp_path, version):
    """A plate's fields are addressed inside its zip file (``plate.zarr.zip/B/2/1``), as the Plate widget
    opens them; a path to nothing inside it is said so."""
    import zipfile

    from napari_zarr_tiles._reader import layer_data

    folder = write_plate(tmp_path / "plate.zarr", version)
    zipped = tmp_path / "plate.zarr.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        for file in sorted(folder.rglob("*")):
            archive.write(file, file.relative_to(folder).as_posix())
    for inside, outside in zip(read(zipped), read(folder), strict=True):
        np.testing.assert_array_equal(np.asarray(inside[0]), np.asarray(outside[0]))
    plate = _plate.open_plate(zipped)
    field = plate.field_path(plate.well("B2"), "1")
    assert field == f"{zipped}/B/2/1"
    layers = layer_data(field)
    assert [kwargs["name"] for _, kwargs, _ in layers] == ["image [0]", "image [1]"]
    for channel, (data, _, _) in enumerate(layers):
        np.testing.assert_array_equal(np.asarray(data[0]), field_levels(1, 1, 1)[0][channel])
    with pytest.raises(FileNotFoundError, match=r"no zarr store at .*plate.zarr.zip/Z/9 \(the zip file holds nothing at 'Z/9'\)"):
        layer_data(f"{zipped}/Z/9")


def test_the_mosaics_wells_are_read_a_bounded_number_at_once(tmp_path, monkeypatch):
    """A server meeting a whole plate's requests at once dropped some (Python's own HTTP server: 16 s to the
    first frame of 96 wells, against 2.8 s 16 wells at a time)."""
    import asyncio

    path = write_plate(tmp_path / "plate.zarr", "0.4")
    in_flight, most = [0], [0]
    document = _plate._MosaicTiles._metadata_document

    async def slow_document(self, key):
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        try:
            await asyncio.sleep(0.002)
            return await document(self, key)
        finally:
            in_flight[0] -= 1

    monkeypatch.setattr(_plate._MosaicTiles, "_metadata_document", slow_document)
    monkeypatch.setattr(_plate, "WELLS_AT_ONCE", 8)
    mosaic = np.asarray(read(path)[0][0])
    np.testing.assert_array_equal(mosaic[:64, 70:134], field_levels(0, 1, 0)[0][0])
    assert 2 < most[0] <= 8 + 1  # the wells' documents, and the first well's once
