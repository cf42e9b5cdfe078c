"""Shared test helpers: layer, method, serialization and export checks.

Every public layer, model and method in keras_ssl is tested through these
helpers so the same guarantees hold everywhere: symbolic and eager calls,
use inside `tf.data.map`, a `.keras` save/load round trip with identical
outputs, one `fit` step with a finite and falling loss, and a SavedModel
export that reloads to the same embeddings.
"""

import os

import keras
import numpy as np
import tensorflow as tf


def random_images(n=8, size=16, channels=1, seed=0, dtype="uint8"):
    """A reproducible batch of images with values in [0, 255]."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, size, size, channels))
    return images.astype(dtype)


def structured_images(n=32, size=16, channels=1, seed=0):
    """Images with learnable structure: blobs of random position and size.

    Random noise gives a pretext task nothing to learn; these do, so "the
    loss falls on a fixed batch" is a meaningful check.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images = np.zeros((n, size, size, channels), dtype="float32")
    for i in range(n):
        cy, cx = rng.uniform(size * 0.25, size * 0.75, size=2)
        radius = rng.uniform(size * 0.15, size * 0.35)
        blob = ((yy - cy) ** 2 + (xx - cx) ** 2) < radius**2
        bar = np.abs(yy - rng.uniform(0, size)) < 1.5
        for c in range(channels):
            level = rng.uniform(120, 255)
            images[i, :, :, c] = blob * level + bar * 60
    return np.clip(images, 0, 255).astype("uint8")


def assert_all_close(a, b, atol=1e-5, rtol=1e-5, msg=None):
    np.testing.assert_allclose(
        np.asarray(a), np.asarray(b), atol=atol, rtol=rtol, err_msg=msg or ""
    )


def run_serialization_test(obj, tmp_path=None):
    """`get_config` / `from_config` round trip gives an equal config."""
    config = obj.get_config()
    revived = obj.__class__.from_config(config)
    assert revived.get_config() == config, (
        f"{type(obj).__name__}.from_config(get_config()) changed the config"
    )
    serialized = keras.saving.serialize_keras_object(obj)
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is type(obj)
    return revived


def run_layer_test(
    layer,
    images,
    expected_output_shape=None,
    check_identity_at_inference=False,
    check_tf_data=True,
    check_per_sample=False,
):
    """Check a layer eagerly, symbolically, in tf.data and after serialization.

    Args:
        layer: the layer instance under test.
        images: a numpy batch to call it on.
        expected_output_shape: the output shape expected for `images`.
        check_identity_at_inference: `layer(x, training=False)` must return x.
        check_tf_data: the layer must run inside `tf.data.Dataset.map`.
        check_per_sample: identical samples in a batch must come out
            differently (randomness drawn per sample, not per batch).
    """
    eager = layer(images, training=True)
    eager = keras.ops.convert_to_numpy(eager) if not isinstance(eager, (tuple, list)) else eager
    if expected_output_shape is not None:
        assert tuple(np.shape(eager)) == tuple(expected_output_shape), (
            f"output shape {np.shape(eager)} != {expected_output_shape}"
        )
    symbolic_input = keras.Input(shape=images.shape[1:], dtype=str(images.dtype))
    symbolic = layer(symbolic_input)
    assert symbolic is not None
    if check_identity_at_inference:
        out = keras.ops.convert_to_numpy(layer(images, training=False))
        assert_all_close(out, images.astype(out.dtype), msg="not identity at inference")
    if check_tf_data:
        ds = tf.data.Dataset.from_tensor_slices(images).batch(len(images))
        ds = ds.map(lambda x: layer(x, training=True))
        out = next(iter(ds))
        if expected_output_shape is not None and not isinstance(out, (tuple, list)):
            assert tuple(out.shape) == tuple(expected_output_shape)
    if check_per_sample:
        same = np.repeat(images[:1], 8, axis=0)
        out = np.asarray(keras.ops.convert_to_numpy(layer(same, training=True)))
        diffs = [np.abs(out[0] - out[i]).max() for i in range(1, len(out))]
        assert max(diffs) > 0, "randomness is not drawn per sample"
    run_serialization_test(layer)
    return eager


def run_model_saving_test(model, inputs, tmp_path, atol=1e-5):
    """`.keras` save and load gives a model with the same outputs."""
    path = os.path.join(str(tmp_path), f"{model.name}.keras")
    expected = model.predict(inputs, verbose=0)
    model.save(path)
    revived = keras.saving.load_model(path)
    actual = revived.predict(inputs, verbose=0)
    assert_all_close(expected, actual, atol=atol, rtol=1e-4)
    assert type(revived) is type(model)
    return revived


def run_method_test(method, images, steps=12, batch_size=None, min_drop=0.0):
    """Fit a method on a fixed batch: finite loss that falls over `steps`.

    The method must be compiled. Returns the list of per-step losses.
    """
    batch_size = batch_size or len(images)
    keras.utils.set_random_seed(0)
    losses = []
    for _ in range(steps):
        history = method.fit(
            images, batch_size=batch_size, epochs=1, shuffle=False, verbose=0
        )
        losses.append(float(history.history["loss"][-1]))
    assert all(np.isfinite(losses)), f"non-finite losses: {losses}"
    first = np.mean(losses[:2])
    last = np.mean(losses[-2:])
    assert last < first - min_drop, f"loss did not fall: {losses}"
    return losses


def run_export_test(encoder, images, tmp_path, atol=1e-4):
    """Export a backbone; the SavedModel reloads to the same embeddings."""
    from keras_ssl.export import export_backbone
    from keras_ssl.export import load_backbone

    path = os.path.join(str(tmp_path), "exported")
    export_backbone(encoder, path)
    expected = keras.ops.convert_to_numpy(
        encoder(tf.cast(images, "float32"), training=False)
    )
    reloaded = tf.saved_model.load(path)
    serve = reloaded.signatures["serving_default"]
    outputs = serve(tf.cast(images, "float32"))
    actual = list(outputs.values())[0] if len(outputs) == 1 else outputs["embeddings"]
    assert_all_close(expected, actual.numpy(), atol=atol, rtol=1e-4)
    layer = load_backbone(path)
    assert_all_close(
        expected, keras.ops.convert_to_numpy(layer(tf.cast(images, "float32"))),
        atol=atol, rtol=1e-4,
    )
    return path
