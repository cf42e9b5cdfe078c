import os
import zipfile

import numpy as np
import pytest

from keras_ssl import datasets
from keras_ssl.datasets import series as series_lib
from tests.series.series_testing import write_toy_set


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No aeon data, an empty Keras cache, no env data dir: only what a test writes."""
    monkeypatch.setattr(series_lib, "_aeon_data_folder", lambda: None)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("KERAS_SSL_DATA_DIR", raising=False)
    series_lib._CACHE.clear()
    return tmp_path


def test_reads_variable_length_multivariate_ts(isolated):
    written = write_toy_set(str(isolated / "data"), n_train=6, n_test=4)
    (x, y, lengths), (x_test, y_test, lengths_test) = datasets.load_series(
        "Toy", data_dir=str(isolated / "data"), return_lengths=True)
    series, labels = written["TRAIN"]
    longest = max(len(s) for s in series + written["TEST"][0])
    assert x.dtype == np.float32 and x.shape == (6, longest, 2)
    assert x_test.shape == (4, longest, 2)
    np.testing.assert_array_equal(lengths, [len(s) for s in series])
    for i, s in enumerate(series):
        np.testing.assert_allclose(x[i, : len(s)], s, rtol=1e-5, atol=1e-5)
        assert (x[i, len(s):] == 0).all()  # zero padding, nothing truncated
    # Labels follow the declared class order ("up" first), not sorted order.
    np.testing.assert_array_equal(y, [0 if label == "up" else 1 for label in labels])
    info = datasets.series_info("Toy", data_dir=str(isolated / "data"))
    assert info["class_names"] == ["up", "down"] and info["channels"] == 2
    assert info["source"] == "data_dir argument" and not info["missing_values"]
    two = datasets.load_series("Toy", data_dir=str(isolated / "data"))
    assert len(two) == 2 and len(two[0]) == 2


def test_series_lengths_recovers_padding():
    x = np.zeros((3, 5, 2), "float32")
    x[0, :5] = 1.0
    x[1, :2] = 1.0
    x[2, 3, 1] = -2.0  # a zero step inside a series is not padding
    np.testing.assert_array_equal(datasets.series_lengths(x), [5, 2, 4])


def test_missing_values_error_names_the_sample_and_fill(isolated):
    write_toy_set(str(isolated / "data"), missing=True)
    (x, _, lengths), _ = datasets.load_series("Toy", data_dir=str(isolated / "data"),
                                              return_lengths=True)
    assert np.isnan(x[1, 2, 0])
    with pytest.raises(ValueError, match=r"series 1, step 2, channel 0"):
        datasets.check_series(x, name="x")
    filled = datasets.fill_missing(x, lengths)
    datasets.check_series(filled)
    np.testing.assert_allclose(filled[1, 2, 0], (x[1, 1, 0] + x[1, 3, 0]) / 2, rtol=1e-5)
    assert np.isnan(x[1, 2, 0])  # the input is left alone


@pytest.mark.parametrize("shape,match", [((4, 10), r"rank 3.*x\[\.\.\., None\]"),
                                         ((2, 3, 4, 5), "rank 3")])
def test_check_series_rank(shape, match):
    with pytest.raises(ValueError, match=match):
        datasets.check_series(np.zeros(shape, "float32"), name="x")


def test_unknown_name_lists_known_ones(isolated):
    with pytest.raises(ValueError, match=r"Unknown series data set 'NoSuchSet'.*JapaneseVowels"):
        datasets.load_series("NoSuchSet")


def test_download_fetches_and_caches_the_archive_zip(isolated, monkeypatch):
    # The real download code, pointed at a local zip laid out as the archive's.
    write_toy_set(str(isolated / "src"), name="GunPoint", n_train=4, n_test=4)
    archive = isolated / "GunPoint.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for split in ("TRAIN", "TEST"):
            z.write(isolated / "src" / "GunPoint" / f"GunPoint_{split}.ts",
                    f"GunPoint/GunPoint_{split}.ts")
    monkeypatch.setattr(series_lib, "ARCHIVE_URL", archive.as_uri().replace("GunPoint", "{name}"))
    (x, y), _ = datasets.load_series("GunPoint")
    assert x.shape[0] == 4
    cached = isolated / "keras_home" / "datasets" / "timeseries" / "GunPoint"
    assert sorted(os.listdir(cached)) == ["GunPoint_TEST.ts", "GunPoint_TRAIN.ts"]
    assert "GunPoint" in series_lib.local_series()
    # Found in the cache from now on: no second download.
    series_lib._CACHE.clear()
    os.remove(archive)
    assert datasets.series_info("GunPoint")["source"] == "Keras cache"


def test_failed_download_leaves_nothing_and_says_where_it_looked(isolated, monkeypatch):
    monkeypatch.setattr(series_lib, "ARCHIVE_URL", (isolated / "absent_{name}.zip").as_uri())
    with pytest.raises(FileNotFoundError, match=r"(?s)GunPoint.*download from .* failed"):
        datasets.load_series("GunPoint")
    cache = isolated / "keras_home" / "datasets" / "timeseries"
    assert not cache.exists() or os.listdir(cache) == []


def test_foreign_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.ts"
    path.write_text("just some text\n")
    with pytest.raises(ValueError, match="expected a @-header line"):
        datasets.read_ts(str(path))


@pytest.mark.skipif(series_lib._aeon_data_folder() is None, reason="aeon's data not installed")
def test_archive_sets_shipped_by_aeon():
    series_lib._CACHE.clear()
    (x, y, lengths), (x_test, y_test, _) = datasets.load_series("JapaneseVowels",
                                                                return_lengths=True)
    assert x.shape == (270, 29, 12) and x_test.shape == (370, 29, 12)
    assert lengths.min() == 7 and lengths.max() <= 29 and y.max() == 8
    np.testing.assert_array_equal(lengths, datasets.series_lengths(x))
    (x, y), _ = datasets.load_series("GunPoint")
    assert x.shape == (50, 150, 1) and set(np.unique(y)) == {0, 1}
