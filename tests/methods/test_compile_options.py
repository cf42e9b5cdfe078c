"""Every image method trains under the settings the throughput benchmark
compares: XLA (`jit_compile=True`), SimCLR views made in `tf.data`, and
mixed precision."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from keras_ssl import training
from tests.testing import random_images
from tests.testing import structured_images

IMAGE_METHODS = ["simclr", "moco", "byol", "simsiam", "barlow", "vicreg", "dino", "rotation",
                 "mae", "simmim", "beit", "denoising"]


def build(method, size=16, seed=0):
    backbone = "vit" if method in ("mae", "simmim", "beit") else "convnet"
    encoder = training.build_encoder(backbone, (size, size, 1), None)
    kwargs = {}
    if method == "beit":  # an untrained tokenizer is enough to run the step
        kwargs["tokenizer"] = keras_ssl.methods.VQTokenizer(
            codebook_size=16, patch_size=encoder.patch_size, embedding_dim=8, hidden_dim=8)
    return training.build_method(method, encoder, seed=seed, **kwargs)


class FailIfCalled(keras.layers.Layer):
    """An augmenter that must not run: the views come from the data."""

    def call(self, inputs, training=True):
        raise AssertionError("the augmenter ran although views were given")


def views_batch(n=8, size=16, seed=0):
    images = structured_images(n, size, seed=seed)
    return images, np.flip(images, axis=2).copy()


@pytest.mark.parametrize("method", IMAGE_METHODS)
def test_jit_compile_trains(method):
    keras.utils.set_random_seed(0)
    model = build(method)
    model.compile(optimizer="auto", jit_compile=True)
    history = model.fit(structured_images(32, 16), batch_size=16, epochs=2, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert model.optimizer.iterations.numpy() == 4


def test_jit_step_matches_graph_step():
    """One SimCLR step on fixed views gives the same update with and without XLA."""
    updates = []
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        model = build("simclr")
        model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=jit)
        before = [w.numpy().copy() for w in model.trainable_weights]
        view_a, view_b = views_batch()
        dataset = tf.data.Dataset.from_tensors(((view_a, view_b),))
        loss = model.fit(dataset, epochs=1, verbose=0).history["loss"][0]
        after = [w.numpy() for w in model.trainable_weights]
        updates.append((loss, [a - b for a, b in zip(after, before)]))
    (loss_graph, graph), (loss_xla, xla) = updates
    np.testing.assert_allclose(loss_xla, loss_graph, rtol=1e-5)
    largest = max(np.abs(u).max() for u in graph)
    assert largest > 0
    for g, x in zip(graph, xla):
        np.testing.assert_allclose(x, g, atol=1e-4 * largest)


def test_simclr_trains_on_views_from_the_dataset():
    encoder = training.build_encoder("convnet", (16, 16, 1), None)
    model = keras_ssl.methods.SimCLR(encoder, augmenter=FailIfCalled(), projection_dim=8)
    model.compile(optimizer="auto")
    view_a, view_b = views_batch()
    dataset = tf.data.Dataset.from_tensor_slices(((view_a, view_b),)).batch(4)
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.optimizer.iterations.numpy() == 2


def test_augment_dataset_makes_two_distinct_views_per_batch():
    model = build("simclr")
    images = structured_images(8, 16)
    labeled = tf.data.Dataset.from_tensor_slices((images, np.arange(8))).batch(4)
    batches = list(model.augment_dataset(labeled))
    assert len(batches) == 2
    (view_a, view_b), = batches[0]
    assert view_a.shape == view_b.shape == (4, 16, 16, 1)
    assert view_a.dtype == tf.float32
    assert np.abs(view_a.numpy() - view_b.numpy()).max() > 1.0
    model.compile(optimizer="auto")
    history = model.fit(model.augment_dataset(labeled), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_views_input_errors():
    model = build("simclr")
    model.compile(optimizer="auto")
    a, b = views_batch()
    three = tf.data.Dataset.from_tensors(((a, b, a),))
    with pytest.raises(ValueError, match="tuple of 2 batches"):
        model.fit(three, epochs=1, verbose=0)
    with pytest.raises(TypeError, match="tf.data.Dataset"):
        model.augment_dataset(a)
    unbatched = tf.data.Dataset.from_tensor_slices(a)
    with pytest.raises(ValueError, match="batch it first"):
        model.augment_dataset(unbatched)


@pytest.mark.parametrize("method", IMAGE_METHODS)
def test_mixed_precision_step(method):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        model = build(method)
        model.compile(optimizer="auto")
        history = model.fit(random_images(16, 16), batch_size=8, epochs=1, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.isfinite(history.history["loss"][0])
    assert all(w.dtype == "float32" for w in model.trainable_weights)
    assert model.encoder.compute_dtype == "float16"


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="CPU rule")
def test_default_jit_compile_is_off_on_cpu():
    """`compile()` leaves XLA off on a CPU, where it measured slower."""
    model = build("simclr")
    model.compile()
    assert model.jit_compile is False
