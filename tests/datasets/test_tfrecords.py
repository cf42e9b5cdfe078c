import os

import numpy as np
import pytest
from PIL import Image

from keras_ssl import cli, datasets
from keras_ssl.files import read_json, sha256


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Seven images in two classes, of several sizes and formats."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for cls, count in (("ants", 4), ("bees", 3)):
        (root / cls).mkdir()
        for i in range(count):
            size = (12 + 2 * i, 16)
            pixels = rng.integers(0, 256, size + (3,), dtype="uint8")
            Image.fromarray(pixels).save(root / cls / f"{cls}{i}.{'png' if i % 2 else 'bmp'}")
    return root


def _images(dataset):
    return [np.asarray(e[0] if isinstance(e, tuple) else e) for e in dataset.as_numpy_iterator()]


def test_shards_hold_the_folder_images_exactly_with_labels(folder, tmp_path):
    out = tmp_path / "shards"
    manifest = datasets.write_tfrecords(folder, out, shard_size=3, image_size=8,
                                        labels="inferred", verbose=False)
    assert manifest["count"] == 7 and manifest["complete"]
    assert [s["count"] for s in manifest["shards"]] == [3, 3, 1]
    assert manifest["class_names"] == ["ants", "bees"]
    for shard in manifest["shards"]:
        assert sha256(out / shard["file"]) == shard["sha256"]
    assert read_json(out / "manifest.json") == manifest
    expected = datasets.from_directory(folder, image_size=8, labels="inferred", shuffle=False,
                                       verbose=False)
    stream = datasets.from_tfrecords(out, labels=True, shuffle=False)
    assert stream.image_shape == (8, 8, 3) and stream.count == 7
    assert stream.class_names == ["ants", "bees"] and len(stream.file_paths) == 3
    got = list(stream.as_numpy_iterator())
    want = list(expected.as_numpy_iterator())
    # PNG is lossless: the very pixels from_directory gives, labels included.
    assert len(got) == len(want) == 7
    for (image, label), (image0, label0) in zip(got, want):
        np.testing.assert_array_equal(image, image0)
        assert label == label0
    # A glob over the shard files works too, shuffled, gray and resized.
    gray = datasets.from_tfrecords(str(out / "images-*.tfrecord"), image_size=(4, 6),
                                   channels=1, seed=0)
    images = _images(gray)
    assert len(images) == 7 and all(i.shape == (4, 6, 1) and i.dtype == np.uint8
                                    for i in images)


def test_a_stopped_conversion_resumes_and_keeps_finished_shards(folder, tmp_path):
    out = tmp_path / "shards"
    first = datasets.write_tfrecords(folder, out, shard_size=2, image_size=8, verbose=False)
    assert [s["count"] for s in first["shards"]] == [2, 2, 2, 1]
    # As if it had stopped inside the third shard: the manifest lists two
    # finished shards, a half-written temporary file lies beside them.
    partial = dict(first, shards=first["shards"][:2], count=4, complete=False)
    from keras_ssl.files import write_json

    write_json(str(out / "manifest.json"), partial)
    os.remove(out / first["shards"][2]["file"])
    (out / ".images-00002.tfrecord.tmp").write_bytes(b"half a record")
    kept = os.stat(out / first["shards"][0]["file"]).st_mtime_ns
    again = datasets.write_tfrecords(folder, out, shard_size=2, image_size=8, verbose=False)
    assert again == first
    assert os.stat(out / first["shards"][0]["file"]).st_mtime_ns == kept
    # A shard damaged on disk fails its checksum and is written again.
    (out / first["shards"][1]["file"]).write_bytes(b"damaged")
    assert datasets.write_tfrecords(folder, out, shard_size=2, image_size=8,
                                    verbose=False) == first
    # Other settings into the same folder: an error, unless overwrite.
    with pytest.raises(FileExistsError, match="`out_dir`.*another conversion"):
        datasets.write_tfrecords(folder, out, shard_size=3, image_size=8, verbose=False)
    other = datasets.write_tfrecords(folder, out, shard_size=3, image_size=8, overwrite=True,
                                     verbose=False)
    assert [s["count"] for s in other["shards"]] == [3, 3, 1]
    assert sorted(p for p in os.listdir(out) if p.endswith(".tfrecord")) == [
        "images-00000.tfrecord", "images-00001.tfrecord", "images-00002.tfrecord"]


def test_arrays_as_jpeg_shards(tmp_path):
    x = np.random.default_rng(1).integers(0, 256, (5, 10, 10), dtype="uint8")
    y = np.array([0, 1, 2, 1, 0])
    manifest = datasets.write_tfrecords((x, y), tmp_path / "a", shard_size=10,
                                        image_format="jpeg", verbose=False)
    assert manifest["image_shape"] == [10, 10, 1] and manifest["class_names"] == ["0", "1", "2"]
    pairs = list(datasets.from_tfrecords(tmp_path / "a", labels=True, shuffle=False)
                 .as_numpy_iterator())
    assert [int(label) for _, label in pairs] == [0, 1, 2, 1, 0]
    assert all(image.shape == (10, 10, 1) for image, _ in pairs)
    # JPEG is lossy but close on smooth images; here only the shapes and
    # labels are exact.
    unlabelled = datasets.write_tfrecords(x, tmp_path / "b", verbose=False)
    assert not unlabelled["labelled"] and unlabelled["class_names"] is None
    with pytest.raises(ValueError, match="`labels=True`.*hold no labels"):
        datasets.from_tfrecords(tmp_path / "b", labels=True)


def test_bad_input_is_named(folder, tmp_path):
    with pytest.raises(ValueError, match="`shard_size` must be an int >= 1"):
        datasets.write_tfrecords(folder, tmp_path / "x", shard_size=0)
    with pytest.raises(ValueError, match="`image_format` must be one of"):
        datasets.write_tfrecords(folder, tmp_path / "x", image_format="webp")
    with pytest.raises(ValueError, match="`source` arrays must be uint8 images"):
        datasets.write_tfrecords(np.zeros((2, 4, 4, 3), "float32"), tmp_path / "x")
    with pytest.raises(ValueError, match="`source` labels must be 2 integers"):
        datasets.write_tfrecords((np.zeros((2, 4, 4), "uint8"), [0.5, 1.0]), tmp_path / "x")
    with pytest.raises(ValueError, match="`source` holds no images"):
        datasets.write_tfrecords(np.zeros((0, 4, 4), "uint8"), tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="`pattern` .* matches no files"):
        datasets.from_tfrecords(str(tmp_path / "none-*.tfrecord"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="folder without manifest.json or \\*.tfrecord"):
        datasets.from_tfrecords(tmp_path / "empty")
    foreign = tmp_path / "foreign.tfrecord"
    foreign.write_text("these are not records")
    with pytest.raises(ValueError, match="is not a TFRecord file"):
        datasets.from_tfrecords(str(foreign))
    with pytest.raises(ValueError, match="`labels` must be True or False"):
        datasets.from_tfrecords(str(foreign), labels="inferred")


def test_cli_writes_shards(folder, tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli.main(["data", "write-tfrecords", str(folder), str(out), "--shard-size", "4",
                     "--image-size", "6", "8", "--labels", "inferred", "--format", "jpeg"]) == 0
    manifest = read_json(out / "manifest.json")
    assert manifest["image_shape"] == [6, 8, 3] and manifest["count"] == 7
    assert "from_tfrecords" in capsys.readouterr().out
    assert cli.main(["data", "write-tfrecords", str(tmp_path / "missing"), str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
