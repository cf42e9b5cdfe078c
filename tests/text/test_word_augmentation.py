"""Word augmentation layers: statistics, randomness, tf.data and graph mode,
identity at inference, serialization and argument errors."""

import collections

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src import testing

from keras_ssl.layers import RandomWordDeletion
from keras_ssl.layers import RandomWordReplacement
from keras_ssl.layers import RandomWordSwap
from tests.testing import run_serialization_test

WORDS = [f"w{i}" for i in range(20)]


def texts(n=300):
    """`n` texts of the same 20 distinct words."""
    return tf.constant([" ".join(WORDS)] * n)


def split(outputs):
    return [t.decode().split(" ") if t else [] for t in outputs.numpy()]


def all_layers(seed=None):
    return [RandomWordDeletion(0.3, seed=seed), RandomWordSwap(0.3, seed=seed),
            RandomWordReplacement(["x", "y", "z"], 0.3, seed=seed)]


def test_deletion_keeps_about_one_minus_rate_and_never_empties():
    out = split(RandomWordDeletion(rate=0.3, seed=0)(texts()))
    kept = np.mean([len(words) for words in out]) / len(WORDS)
    assert abs(kept - 0.7) < 0.03
    # Survivors keep their order.
    assert all(words == [w for w in WORDS if w in words] for words in out)
    # However high the rate, a text keeps at least one word.
    heavy = split(RandomWordDeletion(rate=0.99, seed=0)(texts(200)))
    assert min(len(words) for words in heavy) == 1
    assert {len(words) for words in heavy} <= {1, 2, 3}
    assert len({words[0] for words in heavy if len(words) == 1}) > 5  # a random survivor
    short = RandomWordDeletion(rate=0.9, seed=0)(tf.constant(["one"] * 50 + ["", "  "]))
    assert list(short.numpy()) == [b"one"] * 50 + [b"", b""]


def test_swap_keeps_the_words_and_moves_some():
    layer = RandomWordSwap(rate=0.25, seed=0)
    out = split(layer(texts()))
    assert all(sorted(words) == sorted(WORDS) for words in out)
    moved = [sum(a != b for a, b in zip(words, WORDS)) for words in out]
    # 5 swaps of distinct positions each: at least one pair moved in (almost) all.
    assert np.mean([m > 0 for m in moved]) > 0.97
    assert max(moved) <= 10 and np.mean(moved) > 5
    # One swap of two distinct positions: two words always trade places;
    # texts of fewer than two words stay as they are.
    pairs = layer(tf.constant(["a b"] * 20 + ["solo", ""])).numpy()
    assert list(pairs) == [b"b a"] * 20 + [b"solo", b""]
    # A 10-word text at rate 0.1: exactly one swap (two positions change).
    ten = " ".join(WORDS[:10])
    changed = [sum(a != b for a, b in zip(words, WORDS[:10]))
               for words in split(RandomWordSwap(rate=0.1, seed=0)(tf.constant([ten] * 50)))]
    assert set(changed) == {2}
    assert RandomWordSwap(rate=0.0)(texts(3)).numpy()[0] == " ".join(WORDS).encode()


def test_replacement_draws_from_the_vocabulary():
    vocabulary = ["x", "y", "z"]
    out = split(RandomWordReplacement(vocabulary, rate=0.3, seed=0)(texts()))
    assert all(len(words) == len(WORDS) for words in out)
    replaced = [(w, o) for words in out for w, o in zip(WORDS, words) if w != o]
    assert abs(len(replaced) / (len(out) * len(WORDS)) - 0.3) < 0.03
    assert {o for _, o in replaced} == set(vocabulary)
    counts = collections.Counter(o for _, o in replaced)
    assert min(counts.values()) > 0.25 * len(replaced)  # uniform over the vocabulary
    full = RandomWordReplacement(["only"], rate=1.0)(tf.constant(["a b c"]))
    assert full.numpy()[0] == b"only only only"


@pytest.mark.parametrize("layer", all_layers(seed=3), ids=lambda x: type(x).__name__)
def test_randomness_per_text_and_per_call(layer):
    batch = texts(16)
    first = layer(batch).numpy()
    second = layer(batch).numpy()
    assert len(set(first)) > 1, "the same draw for every text"
    assert list(first) != list(second), "the same draw for every call"
    # The same seed gives the same draws.
    again = type(layer).from_config(layer.get_config())
    replica = type(layer).from_config(layer.get_config())
    assert list(again(batch).numpy()) == list(replica(batch).numpy())


@pytest.mark.parametrize("layer", all_layers(seed=0), ids=lambda x: type(x).__name__)
def test_tf_data_graph_mode_and_inference(layer):
    batch = tf.constant(["the cat sat on the mat", "a dog", "", "  odd   spacing here "])
    mapped = tf.data.Dataset.from_tensor_slices(batch).batch(4).map(layer)
    out = next(iter(mapped))
    assert out.dtype == tf.string and tuple(out.shape) == (4,)
    scalars = tf.data.Dataset.from_tensor_slices(batch).map(layer)
    assert [t.shape.rank for t in scalars] == [0] * 4
    graph = tf.function(lambda x: layer(x, training=True))
    assert tuple(graph(batch).shape) == (4,)
    assert tuple(graph(batch[:1]).shape) == (1,)
    # Training output: words joined by single spaces.
    assert all(t == b" ".join(t.split()) for t in layer(batch).numpy())
    # Inference: the texts pass exactly as they are.
    assert list(layer(batch, training=False).numpy()) == list(batch.numpy())
    # Python lists, numpy str arrays and (N, 1) batches are accepted.
    assert tuple(layer(["a b c", "d e"]).shape) == (2,)
    assert tuple(layer(np.array(["a b c", "d e"])).shape) == (2,)
    assert tuple(layer(tf.constant([["a b"], ["c d"]])).shape) == (2, 1)
    with pytest.raises(TypeError, match="string"):
        layer(tf.constant([1.0, 2.0]))


@pytest.mark.parametrize("layer", all_layers(seed=0), ids=lambda x: type(x).__name__)
def test_config_and_keras_file_round_trip(layer, tmp_path):
    revived = run_serialization_test(layer)
    assert revived.rate == layer.rate and revived.seed == 0
    inputs = keras.Input(shape=(), dtype="string")
    outputs = layer(inputs)
    assert outputs.dtype == "string" and tuple(outputs.shape) == (None,)
    model = keras.Model(inputs, outputs)
    batch = tf.constant(["the cat sat on the mat", "a dog ran"])
    assert list(model(batch, training=True).numpy()) != [b"x"] * 2
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[-1]) is type(layer)
    assert loaded.layers[-1].get_config() == layer.get_config()
    # Identity at inference makes the two models' outputs comparable.
    assert list(loaded(batch, training=False).numpy()) == list(model(batch, training=False).numpy())
    assert list(model.predict(batch, verbose=0)) == list(batch.numpy())
    assert list(loaded(batch, training=False).numpy()) == list(batch.numpy())


def test_bad_arguments_name_them():
    for cls, args in ((RandomWordDeletion, ()), (RandomWordSwap, ()),
                      (RandomWordReplacement, (["x"],))):
        for rate in (-0.1, 1.5):
            with pytest.raises(ValueError, match="`rate` must lie in"):
                cls(*args, rate=rate)
        with pytest.raises(TypeError, match="`rate` must be a number"):
            cls(*args, rate="0.1")
    with pytest.raises(ValueError, match=r"`rate` must lie in \[0, 1\)"):
        RandomWordDeletion(rate=1.0)  # would delete everything
    RandomWordSwap(rate=1.0)
    RandomWordReplacement(["x"], rate=1.0)
    with pytest.raises(ValueError, match="`vocabulary` is empty"):
        RandomWordReplacement([])
    with pytest.raises(ValueError, match="`vocabulary` entries must be single words"):
        RandomWordReplacement(["ok", "two words"])
    with pytest.raises(TypeError, match="`vocabulary` must be a list"):
        RandomWordReplacement("abc")
    with pytest.raises(TypeError, match="`vocabulary` must hold only strings"):
        RandomWordReplacement(["a", 3])


class KerasLayerHarnessTest(testing.TestCase):
    """Keras's own layer checks (serialization, symbolic and eager calls,
    a mixed-precision policy); its training check fits float outputs, so it
    is left out for these string layers without weights."""

    def test_keras_harness(self):
        for layer_cls, kwargs in ((RandomWordDeletion, {"rate": 0.3, "seed": 1}),
                                  (RandomWordSwap, {"rate": 0.3, "seed": 1}),
                                  (RandomWordReplacement,
                                   {"vocabulary": ["x", "y"], "rate": 0.3, "seed": 1})):
            self.run_layer_test(
                layer_cls, kwargs, input_data=tf.constant(["the cat sat on the mat", "a dog"]),
                expected_output_shape=(2,), expected_output_dtype="string",
                expected_num_trainable_weights=0, expected_num_seed_generators=1,
                run_training_check=False,
            )
