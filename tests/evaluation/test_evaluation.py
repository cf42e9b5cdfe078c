import keras
import numpy as np
import pytest

from keras_ssl import evaluation


def brightness_data(n=120, seed=0, classes=3):
    """Images whose mean brightness encodes the class: linearly separable."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.normal(0, 10, (n, 8, 8, 1)) + (40 + 80 * y)[:, None, None, None]
    return np.clip(x, 0, 255).astype("float32"), y.astype("int64")


def mean_encoder():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", kernel_initializer="ones")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


def test_linear_probe_separable_and_random_labels():
    train, test = brightness_data(150, 0), brightness_data(90, 1)
    assert evaluation.linear_probe(mean_encoder(), train, test) > 0.95
    shuffled = (train[0], np.random.default_rng(0).permutation(train[1]))
    assert evaluation.linear_probe(mean_encoder(), shuffled, test) < 0.6


def test_knn_and_precomputed_features():
    train, test = brightness_data(150, 0), brightness_data(90, 1)
    encoder = mean_encoder()
    f_train = evaluation.extract_features(encoder, train[0])
    f_test = evaluation.extract_features(encoder, test[0])
    # Cosine kNN needs direction, not norm: add a constant feature.
    f_train = np.concatenate([f_train, np.ones((len(f_train), 1))], 1)
    f_test = np.concatenate([f_test, np.ones((len(f_test), 1))], 1)
    acc = evaluation.knn_accuracy(None, (f_train, train[1]), (f_test, test[1]), k=5,
                                  precomputed=True)
    assert acc > 0.9
    acc = evaluation.linear_probe(None, (f_train, train[1]), (f_test, test[1]), precomputed=True)
    assert acc > 0.95


def blind_encoder():
    """Brightness is readable at layer "bright" but erased at the output."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", kernel_initializer="ones", name="bright")(x)
    x = keras.layers.Reshape((64, 4), name="tokens")(x)
    x = keras.layers.Reshape((8, 8, 4))(x)
    x = keras.layers.Conv2D(2, 1, kernel_initializer="zeros", bias_initializer="ones",
                            name="erase")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


def test_feature_layers_probe_intermediate_layers():
    train, test = brightness_data(150, 0), brightness_data(90, 1)
    encoder = blind_encoder()
    assert evaluation.linear_probe(encoder, train, test) < 0.5
    assert evaluation.linear_probe(encoder, train, test, feature_layers="bright") > 0.95
    assert evaluation.knn_accuracy(encoder, train, test, k=5,
                                   feature_layers=["erase", "bright"]) > 0.9
    # Pooled over positions (images) or tokens (sequences), concatenated.
    features = evaluation.extract_features(encoder, train[0][:5],
                                           feature_layers=["bright", "tokens", "erase"])
    assert features.shape == (5, 4 + 4 + 2)
    expected = keras.Model(encoder.inputs, encoder.get_layer("bright").output).predict(
        train[0][:5], verbose=0).mean(axis=(1, 2))
    np.testing.assert_allclose(features[:, :4], expected, rtol=1e-5)
    np.testing.assert_allclose(features[:, 4:8], expected, rtol=1e-5)
    assert evaluation.feature_model(encoder, None) is encoder
    with pytest.raises(ValueError, match="not a layer of encoder"):
        evaluation.feature_model(encoder, ["bright", "nope"])
    with pytest.raises(ValueError, match="non-empty list of layer names"):
        evaluation.feature_model(encoder, [])
    with pytest.raises(ValueError, match="functional Keras encoder"):
        evaluation.feature_model(keras.Sequential(), "bright")


def test_fine_tune_does_not_touch_encoder():
    train, test = brightness_data(60, 0), brightness_data(30, 1)
    encoder = mean_encoder()
    before = [w.copy() for w in encoder.get_weights()]
    model, acc = evaluation.fine_tune(encoder, train, test, epochs=2, batch_size=16,
                                      learning_rate=1e-2, verbose=0)
    for a, b in zip(before, encoder.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert 0.0 <= acc <= 1.0
    assert model.predict(test[0][:2], verbose=0).shape == (2, 3)


def test_fine_tune_with_the_masked_image_modelling_recipe():
    import keras_ssl

    train, test = brightness_data(64, 0), brightness_data(30, 1)
    vit = keras_ssl.backbones.ViT(input_shape=(8, 8, 1), patch_size=4, hidden_dim=16,
                                  num_layers=2, num_heads=2)
    before = [w.copy() for w in vit.get_weights()]
    model, acc, history = evaluation.fine_tune(
        vit, train, test, epochs=3, batch_size=16, learning_rate=1e-3, verbose=0,
        mixup=0.8, cutmix=1.0, label_smoothing=0.1, warmup_epochs=1, layer_decay=0.75,
        return_history=True, seed=0)
    for a, b in zip(before, vit.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert 0.0 <= acc <= 1.0 and len(history.history["loss"]) == 3
    optimizer = model.optimizer
    assert isinstance(optimizer, keras_ssl.optimizers.ScaledAdamW)
    assert sorted(set(optimizer.lr_multipliers.values())) == [0.75 ** 3, 0.75 ** 2, 0.75, 1.0]
    # Warm-up: zero at the first step, the peak after one epoch (4 steps).
    schedule = optimizer._learning_rate
    assert float(schedule(0)) == 0.0 and abs(float(schedule(4)) - 1e-3) < 1e-9


def test_mixup_and_cutmix_mix_images_and_labels():
    import tensorflow as tf

    from keras_ssl.evaluation.fine_tune import _mixing_layer

    images = tf.constant(np.arange(8)[:, None, None, None] * np.ones((8, 8, 8, 1)) * 30.0,
                         tf.float32)
    labels = tf.one_hot(tf.range(8), 8)
    for mixup, cutmix in ((0.8, 0.0), (0.0, 1.0), (0.8, 1.0)):
        batch = _mixing_layer(mixup, cutmix, seed=1)({"images": images, "labels": labels})
        mixed = batch["labels"].numpy()
        np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=1e-5)
        assert (mixed.max(axis=1) < 0.999).any(), (mixup, cutmix)
        assert not np.allclose(batch["images"].numpy(), images.numpy())


def test_fine_tune_errors():
    train = brightness_data(20, 0)
    for kwargs, message in [({"mixup": -1}, "mixup"), ({"cutmix": 2.0}, "cutmix"),
                            ({"label_smoothing": 1.0}, "label_smoothing"),
                            ({"warmup_epochs": 2, "epochs": 2}, "warmup_epochs"),
                            ({"layer_decay": 1.5}, "layer_decay"),
                            ({"layer_decay": 0.75}, "ViT or ResNet")]:
        with pytest.raises(ValueError, match=message):
            evaluation.fine_tune(mean_encoder(), train, train, verbose=0, **kwargs)


def test_knn_monitor_adds_to_history():
    class Tiny(keras.Model):
        def __init__(self):
            super().__init__()
            self.encoder = mean_encoder()
            self.head = keras.layers.Dense(1)

        def call(self, x):
            return self.head(self.encoder(x))

    model = Tiny()
    model.compile(optimizer="sgd", loss="mse")
    x, y = brightness_data(40, 0)
    monitor = evaluation.KNNMonitor((x, y), k=3, verbose=0)
    history = model.fit(x, y.astype("float32"), epochs=2, verbose=0, callbacks=[monitor])
    assert len(history.history["knn_accuracy"]) == 2
    assert 0 <= history.history["knn_accuracy"][0] <= 1


def test_errors():
    encoder = mean_encoder()
    x, y = brightness_data(10)
    with pytest.raises(ValueError, match="labels"):
        evaluation.linear_probe(encoder, (x, y[:5]), (x, y))
    with pytest.raises(ValueError, match="empty"):
        evaluation.linear_probe(encoder, (x[:0], y[:0]), (x, y))
    with pytest.raises(ValueError, match="integer"):
        evaluation.knn_accuracy(encoder, (x, y.astype("float32")), (x, y))
    with pytest.raises(ValueError, match="k"):
        evaluation.knn_accuracy(encoder, (x, y), (x, y), k=0)
    with pytest.raises(TypeError, match="pair"):
        evaluation.linear_probe(encoder, x, (x, y))
    report = evaluation.classification_report([0, 1, 1, 0], [0, 1, 0, 0])
    assert report["accuracy"] == 0.75 and 0 < report["macro_f1"] < 1


def test_inference_cost_counts_parameters_and_times_inference():
    small = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(4)])
    images = np.zeros((64, 8, 8, 1), "float32")
    cost = evaluation.inference_cost(small, images, batch_size=32, repeats=2)
    assert cost["parameters"] == 8 * 8 * 4 + 4
    assert cost["images_per_second"] > 0
    with pytest.raises(ValueError, match="`images` is empty"):
        evaluation.inference_cost(small, images[:0])
    with pytest.raises(ValueError, match="`repeats` must be >= 1"):
        evaluation.inference_cost(small, images, repeats=0)
