import math
import os

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from PIL import Image
from tensorboard.plugins.projector import ProjectorConfig

from keras_ssl.evaluation import write_projector


def data(n=12, d=4, classes=3, image_shape=(8, 8, 3), seed=0):
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(n, d)).astype("float32")
    labels = np.arange(n) % classes
    images = rng.integers(0, 256, (n, *image_shape), dtype="uint8")
    return embeddings, labels, images


def read_config(log_dir):
    with open(os.path.join(log_dir, "projector_config.pbtxt")) as f:
        return text_format.Parse(f.read(), ProjectorConfig())


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_all_files_and_checkpoint_round_trip(tmp_path):
    embeddings, labels, images = data()
    log_dir = str(tmp_path / "logs")
    paths = write_projector(
        log_dir, embeddings, labels, images, class_names=["a", "b", "c"]
    )
    assert set(paths) == {"checkpoint", "metadata", "sprite", "config", "events"}
    for key in ("metadata", "sprite", "config", "events"):
        assert os.path.isfile(paths[key])
    assert not [f for f in os.listdir(log_dir) if f.endswith(".tmp")]

    # As TensorBoard does: parse the config, find the latest checkpoint in
    # the folder and read the configured tensor from it.
    config = read_config(log_dir)
    assert len(config.embeddings) == 1
    embedding = config.embeddings[0]
    assert embedding.tensor_name == "embeddings/.ATTRIBUTES/VARIABLE_VALUE"
    assert tf.train.latest_checkpoint(log_dir) == paths["checkpoint"]
    reader = tf.train.load_checkpoint(log_dir)
    assert reader.has_tensor(embedding.tensor_name)
    np.testing.assert_allclose(reader.get_tensor(embedding.tensor_name), embeddings)
    assert embedding.metadata_path == "metadata.tsv"
    assert embedding.sprite.image_path == "sprite.png"
    assert list(embedding.sprite.single_image_dim) == [8, 8]


def test_metadata_two_columns_has_header(tmp_path):
    embeddings, labels, _ = data(n=7)
    paths = write_projector(
        tmp_path, embeddings, labels, class_names=["cat", "dog", "hot\tdog"]
    )
    lines = read_lines(paths["metadata"])
    assert len(lines) == 1 + 7
    assert lines[0] == "label\tclass"
    assert lines[1:4] == ["0\tcat", "1\tdog", "2\thot dog"]
    assert all(len(line.split("\t")) == 2 for line in lines)


def test_metadata_single_column_has_no_header(tmp_path):
    embeddings, labels, _ = data(n=7)
    paths = write_projector(tmp_path, embeddings, labels)
    assert read_lines(paths["metadata"]) == [str(y) for y in labels]
    assert "sprite" not in paths


def test_embeddings_only(tmp_path):
    embeddings, _, _ = data(n=5)
    paths = write_projector(tmp_path, embeddings, name="features")
    assert set(paths) == {"checkpoint", "config", "events"}
    embedding = read_config(tmp_path).embeddings[0]
    assert embedding.tensor_name == "features/.ATTRIBUTES/VARIABLE_VALUE"
    assert not embedding.metadata_path and not embedding.sprite.image_path
    reader = tf.train.load_checkpoint(str(tmp_path))
    np.testing.assert_allclose(reader.get_tensor(embedding.tensor_name), embeddings)


def test_event_file_written_once(tmp_path):
    # TensorBoard lists a sub-folder of --logdir as a run only when it holds
    # an event file; one is written if missing, and not added on rewrites.
    embeddings, labels, _ = data()
    first = write_projector(tmp_path, embeddings, labels)
    assert os.path.basename(first["events"]).startswith("events.out.tfevents.")
    second = write_projector(tmp_path, embeddings * 2, labels)
    assert "events" not in second
    events = [f for f in os.listdir(tmp_path) if f.startswith("events.out")]
    assert events == [os.path.basename(first["events"])]
    # The rewrite replaced the embedding values.
    values = tf.train.load_checkpoint(str(tmp_path)).get_tensor(
        "embeddings/.ATTRIBUTES/VARIABLE_VALUE"
    )
    np.testing.assert_allclose(values, embeddings * 2)


@pytest.mark.parametrize(
    "n, image_shape", [(10, (8, 8, 3)), (9, (8, 6)), (5, (8, 8, 1))]
)
def test_sprite_is_square_grid_of_thumbnails(tmp_path, n, image_shape):
    embeddings, _, images = data(n=n, image_shape=image_shape)
    paths = write_projector(tmp_path, embeddings, images=images)
    height, width = image_shape[:2]
    grid = math.ceil(math.sqrt(n))
    sprite = np.asarray(Image.open(paths["sprite"]))
    assert sprite.shape == (grid * height, grid * width, 3)
    # Point i sits at row i // grid, column i % grid; grayscale became RGB.
    i = n - 1
    row, col = divmod(i, grid)
    thumb = sprite[row * height : (row + 1) * height, col * width : (col + 1) * width]
    expected = images[i].reshape(height, width, -1)
    np.testing.assert_array_equal(thumb, np.broadcast_to(expected, thumb.shape))
    dim = read_config(tmp_path).embeddings[0].sprite.single_image_dim
    assert list(dim) == [width, height]


def test_float_images_are_clipped(tmp_path):
    embeddings, _, _ = data(n=4)
    images = np.full((4, 8, 8), 300.0)
    images[0] = -5.0
    paths = write_projector(tmp_path, embeddings, images=images)
    sprite = np.asarray(Image.open(paths["sprite"]))
    assert sprite[:8, :8].max() == 0 and sprite[:8, 8:16].min() == 255


def test_sprite_is_downscaled_to_tensorboard_limit(tmp_path, monkeypatch):
    from keras_ssl.evaluation import projector

    # A 32-pixel limit stands in for 8192: a 3 x 3 grid of 8 x 16 images
    # (24 x 48) must shrink to thumbnails of 5 x 10.
    monkeypatch.setattr(projector, "MAX_SPRITE_SIZE", 32)
    embeddings, _, images = data(n=9, image_shape=(8, 16, 3))
    paths = write_projector(tmp_path, embeddings, images=images)
    width, height = Image.open(paths["sprite"]).size
    assert (height, width) == (15, 30)
    assert list(read_config(tmp_path).embeddings[0].sprite.single_image_dim) == [10, 5]


def test_max_points_stratified_pick(tmp_path):
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2], [30, 15, 5])
    embeddings = np.stack([np.arange(50.0), rng.normal(size=50)], axis=1)
    images = rng.integers(0, 256, (50, 8, 8), dtype="uint8")
    paths = write_projector(tmp_path, embeddings, labels, images, max_points=20)
    values = tf.train.load_checkpoint(str(tmp_path)).get_tensor(
        "embeddings/.ATTRIBUTES/VARIABLE_VALUE"
    )
    kept = values[:, 0].astype(int)
    assert len(kept) == 20 and np.all(np.diff(kept) > 0)
    kept_labels = [int(y) for y in read_lines(paths["metadata"])]
    np.testing.assert_array_equal(kept_labels, labels[kept])
    assert np.bincount(kept_labels).tolist() == [12, 6, 2]
    sprite = np.asarray(Image.open(paths["sprite"]))
    assert sprite.shape == (5 * 8, 5 * 8, 3)
    np.testing.assert_array_equal(sprite[:8, 8:16, 0], images[kept[1]])
    # Deterministic: a second write keeps the same points.
    again = write_projector(tmp_path / "again", embeddings, labels, max_points=20)
    assert read_lines(again["metadata"]) == read_lines(paths["metadata"])


def test_max_points_without_labels(tmp_path):
    embeddings = np.arange(40.0).reshape(20, 2)
    write_projector(tmp_path, embeddings, max_points=7)
    values = tf.train.load_checkpoint(str(tmp_path)).get_tensor(
        "embeddings/.ATTRIBUTES/VARIABLE_VALUE"
    )
    assert values.shape == (7, 2) and np.all(np.diff(values[:, 0]) > 0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"embeddings": np.zeros(5)}, "`embeddings` must be a 2-d"),
        ({"embeddings": np.zeros((2, 3, 4))}, "`embeddings` must be a 2-d"),
        ({"embeddings": np.zeros((0, 4))}, "`embeddings` is empty"),
        ({"embeddings": np.full((3, 2), np.nan)}, "`embeddings` contains NaN"),
        ({"labels": np.arange(4)}, "`labels` has 4 entries"),
        ({"labels": np.zeros(5)}, "`labels` must be a 1-d array of integer"),
        ({"images": np.zeros((4, 8, 8))}, "`images` has 4 entries"),
        ({"images": np.zeros((5, 8))}, "`images` must have shape"),
        ({"images": np.zeros((5, 8, 8, 2))}, "`images` must have shape"),
        ({"images": np.zeros((5, 8, 8, 3, 1))}, "`images` must have shape"),
        ({"class_names": ["a"]}, "`class_names` was given without `labels`"),
        ({"labels": np.arange(5), "class_names": ["a"]}, "`labels` must lie in"),
        ({"max_points": 0}, "`max_points`"),
        ({"name": "bad/name"}, "`name`"),
    ],
)
def test_bad_inputs(tmp_path, kwargs, match):
    args = {"embeddings": np.zeros((5, 3)), **kwargs}
    with pytest.raises(ValueError, match=match):
        write_projector(str(tmp_path / "logs"), **args)
    assert not os.path.exists(tmp_path / "logs")
