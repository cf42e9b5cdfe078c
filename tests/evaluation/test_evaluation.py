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
