import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from keras_ssl.layers.span_masking import span_mask
from tests.series.series_testing import structured_series
from tests.testing import run_export_test
from tests.testing import run_method_test
from tests.testing import run_model_saving_test


def tiny_tcn(channels=2, **kwargs):
    kwargs.setdefault("filters", (16, 16))
    kwargs.setdefault("strides", (1, 2))
    kwargs.setdefault("kernel_sizes", 3)
    return keras_ssl.backbones.TemporalConvNet(input_shape=(None, channels), **kwargs)


def test_tcn_features_ignore_padding():
    encoder = tiny_tcn()
    x, _ = structured_series(4, 12, 2)
    padded = np.concatenate([x, np.zeros((4, 9, 2), "float32")], axis=1)
    np.testing.assert_allclose(np.asarray(encoder(x)), np.asarray(encoder(padded)),
                               rtol=1e-5, atol=1e-5)
    features, mask = encoder.sequence_model()(padded)
    assert tuple(features.shape) == (4, 11, 16) and tuple(mask.shape) == (4, 11)
    np.testing.assert_array_equal(np.asarray(mask).sum(axis=1), [6] * 4)
    assert np.all(np.asarray(features)[:, 6:] == 0)


def test_tcn_saves_exports_and_loads_as_preset(tmp_path):
    encoder = tiny_tcn(waveform_frontend=True, filters=(8, 16), strides=(1, 1))
    x, _ = structured_series(3, 40, 2, variable=True)
    assert encoder.downsampling == 5
    run_model_saving_test(encoder, x, tmp_path)
    path = run_export_test(encoder, x, tmp_path)
    signatures = tf.saved_model.load(path).signatures
    assert sorted(signatures) == ["serving_default"]
    # Any length goes through the exported signature.
    out = signatures["serving_default"](tf.constant(x[:, :25]))
    assert list(out.values())[0].shape == (3, 16)
    encoder.save_to_preset(str(tmp_path / "preset"))
    loaded = keras_ssl.backbones.Backbone.from_preset(str(tmp_path / "preset"))
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(encoder(x)), atol=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    ({"input_shape": (None, 3, 1)}, "steps, channels"),
    ({"input_shape": (None, None)}, "channels"),
    ({"input_shape": (None, 2), "strides": (1, 2, 3)}, "one per block"),
])
def test_tcn_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_ssl.backbones.TemporalConvNet(**{"filters": (4, 4), **kwargs})


def test_span_mask_properties():
    valid = np.ones((64, 40), bool)
    valid[:, 30:] = False
    masked = np.asarray(span_mask(valid, 0.5, 3, seed=keras.random.SeedGenerator(0)))
    assert not masked[:, 30:].any()  # never on padding
    assert masked.any(axis=1).all()  # every series has a target
    share = masked[:, :30].mean()
    assert 0.25 < share < 0.5  # about 1 - exp(-0.5) with overlaps
    # Spans: masked runs are mostly at least 3 long.
    starts = masked[:, 1:] & ~masked[:, :-1]
    assert starts.sum() < masked.sum() / 2
    one = np.zeros((2, 6), bool)
    one[:, :1] = True
    assert np.asarray(span_mask(one, 0.01, 2, seed=0))[:, 0].all()


def test_wav2vec2_losses_match_numpy():
    rng = np.random.default_rng(0)
    context = rng.normal(size=(2, 5, 4)).astype("float32")
    targets = rng.normal(size=(2, 5, 4)).astype("float32")
    masked = np.array([[1, 0, 1, 1, 0], [0, 1, 0, 0, 1]], bool)
    loss, accuracy = keras_ssl.losses.masked_step_contrast(context, targets, masked, 0.5)
    normalise = lambda a: a / np.linalg.norm(a, axis=-1, keepdims=True)  # noqa: E731
    c, q = normalise(context), normalise(targets)
    expected = []
    for n in range(2):
        steps = np.flatnonzero(masked[n])
        for t in steps:
            logits = c[n, t] @ q[n, steps].T / 0.5
            expected.append(np.log(np.exp(logits).sum()) - logits[list(steps).index(t)])
    np.testing.assert_allclose(np.asarray(loss), expected, rtol=1e-5)
    assert np.asarray(accuracy).shape == (5,)
    uniform = np.full((10, 2, 4), 0.25, "float32")
    diversity, perplexity = keras_ssl.losses.codebook_diversity(uniform)
    np.testing.assert_allclose([float(diversity), float(perplexity)], [0.0, 8.0], atol=1e-4)
    collapsed = np.zeros((10, 2, 4), "float32")
    collapsed[..., 0] = 1.0
    diversity, perplexity = keras_ssl.losses.codebook_diversity(collapsed)
    np.testing.assert_allclose([float(diversity), float(perplexity)], [0.75, 2.0], atol=1e-4)


def test_gumbel_quantizer_is_hard_and_saves(tmp_path):
    quantizer = keras_ssl.layers.GumbelVectorQuantizer(num_groups=2, codebook_size=4,
                                                       code_dim=6, seed=0)
    x = np.random.default_rng(0).normal(size=(3, 5, 8)).astype("float32")
    out = quantizer(x, temperature=1.0, training=True)
    assert tuple(out["quantized"].shape) == (3, 5, 6)
    codes = np.asarray(out["codes"])
    expected = np.asarray(quantizer.codevectors)[np.arange(2), codes].reshape(3, 5, 6)
    np.testing.assert_allclose(np.asarray(out["quantized"]), expected, rtol=1e-5)
    inference = np.asarray(quantizer(x)["codes"])
    np.testing.assert_array_equal(inference, np.asarray(quantizer(x)["codes"]))
    revived = keras_ssl.layers.GumbelVectorQuantizer.from_config(quantizer.get_config())
    assert revived.get_config() == quantizer.get_config()


@pytest.fixture(scope="module")
def series_batch():
    x, _ = structured_series(16, 24, 2, variable=True)
    return x


@pytest.mark.parametrize("name", ["cpc", "wav2vec2"])
def test_series_methods_learn_and_round_trip(name, series_batch, tmp_path):
    keras.utils.set_random_seed(0)
    encoder = tiny_tcn()
    if name == "cpc":
        method = keras_ssl.methods.CPC(encoder, prediction_steps=3)
    else:
        method = keras_ssl.methods.Wav2Vec2(encoder, mask_length=2, codebook_size=8,
                                            context_layers=1, context_heads=2, seed=0)
    method.compile(optimizer=keras.optimizers.Adam(3e-3))
    run_method_test(method, series_batch, steps=10)
    history = method.fit(series_batch, batch_size=8, epochs=1, verbose=0).history
    assert 0.0 <= history["accuracy"][0] <= 1.0
    if name == "wav2vec2":
        assert 1.0 <= history["perplexity"][0] <= 16.0
        assert 0.2 < history["mask_fraction"][0] < 0.9
    revived = run_model_saving_test(method, series_batch, tmp_path)
    assert type(revived.encoder).__name__ == "TemporalConvNet"


def test_series_method_input_errors(series_batch):
    method = keras_ssl.methods.CPC(tiny_tcn(), prediction_steps=3)
    method.compile(optimizer="auto")
    with pytest.raises(ValueError, match="rank 3"):
        method.fit(series_batch[..., 0], batch_size=8, verbose=0)
    bad = series_batch.copy()
    bad[3, 1, 0] = np.nan
    with pytest.raises(ValueError, match="series 3, step 1"):
        method.fit(bad, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=r"more than 3 latent steps.*6 steps.*3"):
        method.fit(series_batch[:, :6], batch_size=8, verbose=0)
    with pytest.raises(TypeError, match="per-step features"):
        keras_ssl.methods.CPC(keras_ssl.backbones.ConvNet(input_shape=(8, 8, 1), filters=(4,)))
    with pytest.raises(ValueError, match="prediction_steps"):
        keras_ssl.methods.CPC(tiny_tcn(), prediction_steps=0)
    with pytest.raises(ValueError, match="gumbel_temperature"):
        keras_ssl.methods.Wav2Vec2(tiny_tcn(), gumbel_temperature=(0.5, 2.0, 0.9))
