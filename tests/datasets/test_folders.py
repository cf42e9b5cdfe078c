import os

import numpy as np
import pytest
from PIL import Image

from keras_ssl import datasets


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """cats/ and dogs/ with color and gray images of several sizes and formats,
    a corrupt file, a text file and an image outside any class folder."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for cls, shade in (("cats", 40), ("dogs", 200)):
        (root / cls / "deeper").mkdir(parents=True)
        for i, (size, ext) in enumerate([((20, 30), "png"), ((32, 32), "jpg"),
                                         ((40, 24), "bmp"), ((16, 16), "gif")]):
            pixels = np.clip(rng.normal(shade, 5, size + (3,)), 0, 255).astype("uint8")
            folder = root / cls / ("deeper" if i == 3 else "")
            Image.fromarray(pixels).save(folder / f"{cls}{i}.{ext}")
        Image.fromarray(np.full((24, 24), shade, "uint8")).save(root / cls / f"{cls}_gray.png")
    (root / "cats" / "broken.jpg").write_bytes(b"not an image at all")
    (root / "notes.txt").write_text("hello")
    Image.fromarray(np.zeros((8, 8, 3), "uint8")).save(root / "loose.png")
    return root


def test_folder_streams_images_of_one_size(photos, capsys):
    ds = datasets.from_directory(photos, image_size=16, channels=3, seed=0)
    assert "Skipped 1 unreadable image file(s)" in capsys.readouterr().out
    images = list(ds.as_numpy_iterator())
    assert len(images) == len(ds.file_paths) == 11  # 5 per class + loose.png
    assert all(image.shape == (16, 16, 3) and image.dtype == np.uint8 for image in images)
    assert [os.path.basename(p) for p in ds.skipped] == ["broken.jpg"]
    # Every format converts to the asked channels (GIF decodes to RGB).
    gray = datasets.from_directory(photos, image_size=(12, 20), channels=1, verbose=False)
    images = list(gray.as_numpy_iterator())
    assert len(images) == 11 and all(image.shape == (12, 20, 1) for image in images)


def test_folder_labels_from_sub_folders_and_csv(photos, tmp_path):
    ds = datasets.from_directory(photos, image_size=8, labels="inferred", verbose=False)
    assert ds.class_names == ["cats", "dogs"]
    pairs = list(ds.as_numpy_iterator())
    assert len(pairs) == 10  # loose.png has no class
    # The classes differ in brightness: labels travel with their images.
    for image, label in pairs:
        assert (image.mean() < 120) == (label == 0)
    table = tmp_path / "labels.csv"
    table.write_text("filename,label\ncats/cats0.png,a\ndogs/dogs1.jpg,b\nloose.png,a\n")
    ds = datasets.from_directory(photos, image_size=8, labels=str(table), shuffle=False,
                                 verbose=False)
    assert ds.class_names == ["a", "b"]
    assert sorted(label for _, label in ds.as_numpy_iterator()) == [0, 0, 1]


def test_folder_defaults_and_center_crop(tmp_path):
    wide = np.zeros((10, 30), "uint8")
    wide[:, 10:20] = 255  # a white centre band
    Image.fromarray(wide).save(tmp_path / "wide.png")
    (image,) = list(datasets.from_directory(tmp_path, verbose=False).as_numpy_iterator())
    assert image.shape == (10, 30, 1)  # the first image's size and channels
    (square,) = list(datasets.from_directory(tmp_path, image_size=10, verbose=False)
                     .as_numpy_iterator())
    assert square.min() > 200  # the centre crop keeps only the white band
    (stretched,) = list(datasets.from_directory(tmp_path, image_size=10, crop="resize",
                                                verbose=False).as_numpy_iterator())
    assert stretched.min() < 50


def test_folder_errors(photos, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        datasets.from_directory(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty folder"):
        datasets.from_directory(tmp_path / "empty")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("x")
    (tmp_path / "docs" / "b.csv").write_text("x")
    with pytest.raises(ValueError, match=r"no image files .* \.csv \(1\), \.txt \(1\)"):
        datasets.from_directory(tmp_path / "docs")
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(np.zeros((8, 8), "uint8")).save(flat / "a.png")
    with pytest.raises(ValueError, match="one sub-folder per class"):
        datasets.from_directory(flat, labels="inferred")
    with pytest.raises(ValueError, match="image_size"):
        datasets.from_directory(photos, image_size=(0, 8))
    with pytest.raises(ValueError, match="crop"):
        datasets.from_directory(photos, crop="zoom")
    with pytest.raises(ValueError, match="labels"):
        datasets.from_directory(photos, labels="folders")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="None of the 1 image files"):
        datasets.from_directory(tmp_path / "bad", verbose=False)


def test_decoder_scales_large_jpegs_and_passes_ready_images_through(tmp_path):
    import tensorflow as tf

    from keras_ssl.datasets.folders import image_decoder

    rng = np.random.default_rng(0)
    # A smooth 200x160 photo: decoded at 1/4 scale for a 40x32 target
    # (the largest reduction leaving both sides at least the target),
    # it matches the full decode resized, up to JPEG's rounding.
    yy, xx = np.mgrid[0:200, 0:160]
    photo = np.stack([yy * 255 // 200, xx * 255 // 160, (yy + xx) * 255 // 360], -1)
    Image.fromarray(photo.astype("uint8")).save(tmp_path / "big.jpg", quality=95)
    contents = tf.io.read_file(str(tmp_path / "big.jpg"))
    scaled = image_decoder((40, 32), 3)(contents).numpy()
    full = tf.image.resize(tf.cast(tf.io.decode_jpeg(contents), "float32"), (40, 32)).numpy()
    assert scaled.shape == (40, 32, 3) and scaled.dtype == np.uint8
    assert np.abs(scaled.astype("float32") - full).mean() < 3.0
    # An image already at the target size and channels comes back as decoded.
    small = rng.integers(0, 256, (24, 20, 3), dtype="uint8")
    Image.fromarray(small).save(tmp_path / "small.png")
    contents = tf.io.read_file(str(tmp_path / "small.png"))
    np.testing.assert_array_equal(image_decoder((24, 20), 3)(contents).numpy(), small)
    # Gray to color and a GIF (decode_image's path) still conform.
    Image.fromarray(small[..., 0]).save(tmp_path / "gray.gif")
    gif = image_decoder((12, 10), 3)(tf.io.read_file(str(tmp_path / "gray.gif"))).numpy()
    assert gif.shape == (12, 10, 3) and np.array_equal(gif[..., 0], gif[..., 2])
