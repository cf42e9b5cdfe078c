import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from tests.testing import random_images
from tests.testing import run_method_test
from tests.testing import run_model_saving_test
from tests.testing import structured_images


def tiny_encoder(size=16, channels=1):
    return keras_ssl.backbones.ConvNet(input_shape=(size, size, channels), filters=(8, 16))


def test_fit_loss_falls_and_metrics():
    model = keras_ssl.methods.SimCLR(tiny_encoder(), projection_dim=16, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    losses = run_method_test(model, structured_images(32, 16), steps=10)
    assert losses[0] > 0
    history = model.fit(structured_images(32, 16), batch_size=16, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "contrastive_accuracy", "embedding_std"}
    acc = history.history["contrastive_accuracy"][0]
    assert 0.0 <= acc <= 1.0


def test_fit_accepts_tf_data_with_labels_and_float_images():
    model = keras_ssl.methods.SimCLR(tiny_encoder(channels=3), projection_dim=8, seed=0)
    model.compile(optimizer="auto")
    x = random_images(16, 16, 3, dtype="float32")
    ds = tf.data.Dataset.from_tensor_slices((x, np.arange(16))).batch(8)
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_compile_auto_uses_documented_default():
    model = keras_ssl.methods.SimCLR(tiny_encoder(), seed=0)
    model.compile(optimizer="auto")
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert np.isclose(float(model.optimizer.learning_rate), 1e-3)
    with pytest.raises(ValueError, match="loss"):
        model.compile(optimizer="auto", loss="mse")


def test_save_load_round_trip(tmp_path):
    model = keras_ssl.methods.SimCLR(
        tiny_encoder(), projection_dim=8, temperature=0.2, seed=3
    )
    model.compile(optimizer="auto")
    model.fit(random_images(16, 16), batch_size=8, epochs=1, verbose=0)
    revived = run_model_saving_test(model, random_images(4, 16, seed=5), tmp_path)
    assert revived.temperature == 0.2
    assert revived.projection_head.output_dim == 8
    # The revived model keeps training.
    revived.compile(optimizer="auto")
    revived.fit(random_images(16, 16), batch_size=8, epochs=1, verbose=0)


def test_bad_inputs_raise_clear_errors():
    model = keras_ssl.methods.SimCLR(tiny_encoder(), seed=0)
    model.compile(optimizer="auto")
    with pytest.raises(ValueError, match="rank 4"):
        model.fit(np.zeros((8, 16, 16), "uint8"), batch_size=4, verbose=0)
    with pytest.raises(TypeError, match="uint8"):
        model.fit(np.zeros((8, 16, 16, 1), "int64"), batch_size=4, verbose=0)
    with pytest.raises(Exception, match="at least 2 images"):
        model.fit(np.zeros((4, 16, 16, 1), "uint8"), batch_size=1, verbose=0)
    with pytest.raises(ValueError, match="temperature"):
        keras_ssl.methods.SimCLR(tiny_encoder(), temperature=0)


def test_encoder_must_output_feature_vector():
    inputs = keras.Input((16, 16, 1))
    not_pooled = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    with pytest.raises(ValueError, match="feature vector"):
        keras_ssl.methods.SimCLR(not_pooled)
    with pytest.raises(TypeError, match="keras.Model"):
        keras_ssl.methods.SimCLR(lambda x: x)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_nan_loss_stops_with_step_in_message(jit_compile):
    model = keras_ssl.methods.SimCLR(tiny_encoder(), projection_dim=8, seed=0)
    model.compile(optimizer="auto", jit_compile=jit_compile)
    model.fit(random_images(8, 16), batch_size=8, epochs=1, verbose=0)
    before = [w.numpy().copy() for w in model.encoder.trainable_weights]
    bad = random_images(8, 16, dtype="float32")
    bad[0] = np.nan  # a whole image, so no random crop can miss it
    with pytest.raises(tf.errors.InvalidArgumentError, match="non-finite loss or gradients at optimizer step"):
        model.fit(bad, batch_size=8, epochs=1, verbose=0)
    after = [w.numpy() for w in model.encoder.trainable_weights]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
