import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from keras_ssl.export import export_backbone
from keras_ssl.export import load_backbone
from tests.testing import random_images
from tests.testing import run_export_test


def tiny_encoder():
    return keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8, 16))


def test_export_reload_same_embeddings(tmp_path):
    encoder = tiny_encoder()
    images = random_images(6, 16)
    path = run_export_test(encoder, images, tmp_path)
    loaded = tf.saved_model.load(path)
    uint8_out = loaded.signatures["serving_uint8"](tf.constant(images))["embeddings"]
    np.testing.assert_allclose(
        uint8_out.numpy(), encoder(images.astype("float32")).numpy(), atol=1e-4
    )
    assert os.path.exists(os.path.join(path, "keras_ssl", "encoder.keras"))


def test_signature_listed_by_saved_model_cli(tmp_path):
    path = export_backbone(tiny_encoder(), str(tmp_path / "enc"))
    cli = shutil.which("saved_model_cli")
    if cli is None:
        cmd = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    else:
        cmd = [cli]
    out = subprocess.run(
        cmd + ["show", "--dir", path, "--tag_set", "serve", "--signature_def",
               "serving_default"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "inputs['images']" in out
    assert "DT_FLOAT" in out
    assert "(-1, 16, 16, 1)" in out
    assert "outputs['embeddings']" in out


def test_tfsm_layer_inside_a_model_that_fits(tmp_path):
    path = export_backbone(tiny_encoder(), str(tmp_path / "enc"))
    layer = keras.layers.TFSMLayer(path, call_endpoint="serving_default")
    inputs = keras.Input((16, 16, 1))
    outputs = keras.layers.Dense(3, activation="softmax")(layer(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = random_images(12, 16, dtype="float32")
    y = np.arange(12) % 3
    head = model.layers[-1]
    before = head.get_weights()[0].copy()
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert not np.allclose(before, head.get_weights()[0])


def test_load_backbone_trainable_fine_tunes(tmp_path):
    encoder = tiny_encoder()
    path = export_backbone(encoder, str(tmp_path / "enc"))
    backbone = load_backbone(path, trainable=True)
    assert len(backbone.trainable_weights) == len(encoder.trainable_weights)
    inputs = keras.Input((16, 16, 1))
    model = keras.Model(inputs, keras.layers.Dense(2)(backbone(inputs)))
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = backbone.trainable_weights[0].numpy().copy()
    model.fit(random_images(8, 16), np.arange(8) % 2, epochs=1, verbose=0)
    assert not np.allclose(before, backbone.trainable_weights[0].numpy())


def test_existing_path_needs_overwrite(tmp_path):
    path = export_backbone(tiny_encoder(), str(tmp_path / "enc"))
    with pytest.raises(FileExistsError, match="overwrite"):
        export_backbone(tiny_encoder(), path)
    export_backbone(tiny_encoder(), path, overwrite=True)
    assert os.path.exists(os.path.join(path, "saved_model.pb"))
    leftovers = [n for n in os.listdir(tmp_path) if n.startswith(".")]
    assert leftovers == []


def test_failed_export_leaves_previous_export_intact(tmp_path, monkeypatch):
    path = export_backbone(tiny_encoder(), str(tmp_path / "enc"))
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        original = f.read()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        export_backbone(tiny_encoder(), path, overwrite=True)
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        assert f.read() == original
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []


def test_bad_paths_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_backbone(str(tmp_path / "missing"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="not a SavedModel"):
        load_backbone(str(empty))
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "saved_model.pb").write_bytes(b"this is not a protobuf")
    with pytest.raises(ValueError, match="could not be loaded"):
        load_backbone(str(corrupt))
    a_file = tmp_path / "weights.bin"
    a_file.write_bytes(b"x")
    with pytest.raises(ValueError, match="is a file"):
        load_backbone(str(a_file))


def test_foreign_saved_model_frozen_only(tmp_path):
    module = tf.Module()
    module.v = tf.Variable(2.0)
    module.f = tf.function(
        lambda x: {"out": x * module.v},
        input_signature=[tf.TensorSpec((None,), tf.float32)],
    )
    path = str(tmp_path / "foreign")
    tf.saved_model.save(module, path, signatures={"serving_default": module.f})
    layer = load_backbone(path)
    assert isinstance(layer, keras.layers.TFSMLayer)
    with pytest.raises(ValueError, match="no Keras copy"):
        load_backbone(path, trainable=True)


def test_keras_file_uses_safe_mode(tmp_path):
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    path = str(tmp_path / "lambda.keras")
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ValueError, match="safe_mode"):
        load_backbone(path)
    assert load_backbone(path, safe_mode=False) is not None


def test_export_rejects_non_feature_encoders(tmp_path):
    inputs = keras.Input((16, 16, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs))
    with pytest.raises(ValueError, match="feature vector"):
        export_backbone(model, str(tmp_path / "x"))
