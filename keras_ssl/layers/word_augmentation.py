"""Word-level text augmentation: random deletion, swap and replacement of words.

Three of the four operations of EDA (Wei and Zou 2019, "EDA: Easy Data
Augmentation Techniques for Boosting Performance on Text Classification
Tasks"): random deletion, random swap, and, in place of EDA's synonym
replacement (which needs WordNet), replacement by a random word of a given
vocabulary. Keras and keras-hub ship no word-level augmentation layers
(their text layers tokenize, pack and mask token ids), hence these, written
here with TensorFlow string and ragged-tensor ops so that they run eagerly,
inside a `tf.data.Dataset.map` and inside a train step (graph mode).

Every layer takes a batch of `tf.string` texts (shape (N,); a scalar or any
other shape works too and keeps its shape) and returns texts of the same
shape. A word is a whitespace-separated token; augmented texts are joined
with single spaces (so runs of whitespace collapse, and a text with no word
becomes the empty string). Randomness is drawn per word and per text from
the layer's `keras.random.SeedGenerator`, so it differs across texts and
across calls.

Like Keras's image augmentation layers, a layer augments when called
directly, inside `tf.data.map` and in `fit` (`training` defaults to True or
comes from the model), and is the identity with `training=False` (in
`predict`, `evaluate` and inference calls of a model), where the texts pass
unchanged.
"""

import numbers

import keras
import numpy as np
import tensorflow as tf


def _check_rate(rate, name, high_open):
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise TypeError(f"`{name}` must be a number, got {rate!r}.")
    if not (0 <= rate < 1 if high_open else 0 <= rate <= 1):
        raise ValueError(f"`{name}` must lie in [0, 1{')' if high_open else ']'}, got {rate!r}.")
    return float(rate)


def _as_text_tensor(texts):
    """Strings (a tensor, a list or a numpy array) -> a `tf.string` tensor."""
    if isinstance(texts, (str, bytes)):
        return tf.constant(texts, tf.string)
    if isinstance(texts, (list, tuple, np.ndarray)):
        array = np.asarray(texts, dtype=object)
        if any(not isinstance(t, (str, bytes)) for t in array.reshape(-1)):
            raise TypeError("Word augmentation layers take strings only; got a non-string item.")
        return tf.constant(array, tf.string)
    texts = tf.convert_to_tensor(texts)
    if texts.dtype != tf.string:
        raise TypeError(
            f"Word augmentation layers take tf.string texts, got dtype {texts.dtype.name}."
        )
    return texts


class WordAugmentation(keras.layers.Layer):
    """Base of the word augmentation layers: split texts into words, let
    `augment_words` change the ragged batch of words, join them again.

    Subclasses implement `augment_words(words)`, where `words` is a
    `tf.RaggedTensor` of strings of shape (N, None) (the words of each
    text) and the result has the same form.

    Args:
        rate: the operation's rate (see the subclass).
        seed: integer seed of the layer's `keras.random.SeedGenerator`.
    """

    # Whether `rate` must stay below 1 (deletion) or may equal it.
    rate_high_open = False

    def __init__(self, rate=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _check_rate(rate, "rate", self.rate_high_open)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Strings are not converted to the layer's float dtype, and Python
        # lists of strings are accepted as they are (converted in `call`).
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True

    def call(self, texts, training=True):
        texts = _as_text_tensor(texts)
        if not training or self.rate == 0:
            return texts
        shape = tf.shape(texts)
        flat = tf.reshape(texts, [-1])
        words = tf.strings.split(flat)
        words = self.augment_words(words)
        joined = tf.strings.reduce_join(words, axis=1, separator=" ")
        return tf.reshape(joined, shape)

    def augment_words(self, words):
        raise NotImplementedError(f"{type(self).__name__} must implement augment_words().")

    def uniform(self, shape):
        """Uniform floats in [0, 1) of a (dynamic) `shape`, from the layer's seed generator."""
        return keras.random.uniform(shape, seed=self.seed_generator, dtype="float32")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, texts, training=True):
        return keras.KerasTensor(texts.shape, dtype="string")

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="keras_ssl")
class RandomWordDeletion(WordAugmentation):
    """Delete each word of a text with probability `rate` (EDA's random
    deletion, Wei and Zou 2019).

    Words are dropped independently; a text never loses all its words: when
    every word of a text is drawn for deletion, one of them (at random)
    stays. A text with no word stays empty. See the module docstring for
    inputs, outputs and `training`.

    Args:
        rate: probability of deleting each word, in [0, 1).
        seed: integer seed of the layer's `keras.random.SeedGenerator`.

    Example:

    >>> import tensorflow as tf
    >>> out = RandomWordDeletion(rate=0.5, seed=0)(tf.constant(["a b c d e f", "word"]))
    >>> [len(t.split()) <= 6 for t in out.numpy()], out.numpy()[1]
    ([True, True], b'word')
    >>> RandomWordDeletion(0.5)(["a  b"], training=False).numpy()
    array([b'a  b'], dtype=object)
    """

    rate_high_open = True

    def augment_words(self, words):
        noise = words.with_flat_values(self.uniform(tf.shape(words.flat_values)))
        # The word with the largest draw of each text is kept whatever the
        # draws: it is deleted only when every word of its text is.
        # (A column of -1 after the words gives texts with no word an index
        # that matches none.)
        dense = noise.to_tensor(default_value=-1.0)
        dense = tf.concat([dense, tf.fill([tf.shape(dense)[0], 1], -1.0)], axis=1)
        largest = tf.argmax(dense, axis=1, output_type=tf.int64)
        positions = tf.ragged.range(words.row_lengths())
        keep = tf.logical_or(noise >= self.rate, tf.equal(positions, largest[:, None]))
        return tf.ragged.boolean_mask(words, keep)


@keras.saving.register_keras_serializable(package="keras_ssl")
class RandomWordSwap(WordAugmentation):
    """Swap random pairs of words of a text (EDA's random swap, Wei and Zou
    2019).

    A text of `n >= 2` words gets `max(1, floor(rate * n))` swaps in
    sequence (EDA's count), each of two distinct random positions (the same
    word may move more than once); `rate=0` swaps nothing, and texts of
    fewer than two words are unchanged. The words of a text keep their
    multiset. See the module docstring for inputs, outputs and `training`.

    Args:
        rate: swaps per word, in [0, 1].
        seed: integer seed of the layer's `keras.random.SeedGenerator`.

    Example:

    >>> import tensorflow as tf
    >>> out = RandomWordSwap(rate=0.1, seed=0)(tf.constant(["one two three four"]))
    >>> sorted(out.numpy()[0].split())
    [b'four', b'one', b'three', b'two']
    """

    def augment_words(self, words):
        lengths = tf.cast(words.row_lengths(), tf.int32)
        batch = tf.shape(lengths)[0]
        width = tf.reduce_max(tf.concat([lengths, [0]], 0))
        swaps = tf.where(
            lengths >= 2,
            tf.maximum(1, tf.cast(tf.floor(self.rate * tf.cast(lengths, "float32")), tf.int32)),
            0,
        )
        steps = tf.reduce_max(tf.concat([swaps, [0]], 0))
        draws = self.uniform(tf.stack([steps, batch, 2]))
        columns = tf.range(width)[None, :]
        # order[b, p]: the original position of the word now at position p.
        order = tf.tile(columns, [batch, 1])
        high_first = tf.maximum(lengths - 1, 0)
        high_second = tf.maximum(lengths - 2, 0)
        lengths_float = tf.cast(lengths, "float32")

        def swap(step, order):
            u = draws[step]
            first = tf.minimum(tf.cast(u[:, 0] * lengths_float, tf.int32), high_first)
            second = tf.minimum(tf.cast(u[:, 1] * (lengths_float - 1.0), tf.int32), high_second)
            second = second + tf.cast(second >= first, tf.int32)  # distinct from `first`
            at_first = tf.gather(order, first, batch_dims=1)[:, None]
            at_second = tf.gather(order, tf.minimum(second, high_first), batch_dims=1)[:, None]
            swapped = tf.where(columns == first[:, None], at_second,
                               tf.where(columns == second[:, None], at_first, order))
            active = (step < swaps)[:, None]
            return step + 1, tf.where(active, swapped, order)

        _, order = tf.while_loop(
            lambda step, _: step < steps, swap, (tf.constant(0), order),
            shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, None])),
        )
        starts = tf.cast(words.row_starts(), tf.int32)[:, None]
        indices = tf.RaggedTensor.from_tensor(order + starts, lengths=lengths)
        return tf.gather(words.flat_values, indices)


@keras.saving.register_keras_serializable(package="keras_ssl")
class RandomWordReplacement(WordAugmentation):
    """Replace each word with probability `rate` by a random word of
    `vocabulary` (uniformly drawn).

    EDA (Wei and Zou 2019) replaces words by WordNet synonyms; without a
    thesaurus, a random word of a given vocabulary (e.g. the corpus's) is
    the noise here. See the module docstring for inputs, outputs and
    `training`.

    Args:
        vocabulary: the replacement words, a non-empty list of strings
            without whitespace (e.g. the whole words of a tokenizer's
            vocabulary).
        rate: probability of replacing each word, in [0, 1].
        seed: integer seed of the layer's `keras.random.SeedGenerator`.

    Example:

    >>> import tensorflow as tf
    >>> layer = RandomWordReplacement(["x"], rate=1.0, seed=0)
    >>> layer(tf.constant(["a b c"])).numpy()
    array([b'x x x'], dtype=object)
    """

    def __init__(self, vocabulary, rate=0.1, seed=None, **kwargs):
        super().__init__(rate=rate, seed=seed, **kwargs)
        if isinstance(vocabulary, (str, bytes)) or not isinstance(
                vocabulary, (list, tuple, np.ndarray)):
            raise TypeError(
                f"`vocabulary` must be a list of strings, got {type(vocabulary).__name__}."
            )
        vocabulary = [v.decode("utf-8") if isinstance(v, bytes) else v for v in vocabulary]
        bad = [v for v in vocabulary if not isinstance(v, str)]
        if bad:
            raise TypeError(
                f"`vocabulary` must hold only strings, got an item of type {type(bad[0]).__name__}."
            )
        if not vocabulary:
            raise ValueError("`vocabulary` is empty: give at least one replacement word.")
        spaced = [v for v in vocabulary if not v or len(v.split()) != 1 or v.strip() != v]
        if spaced:
            raise ValueError(
                f"`vocabulary` entries must be single words without whitespace, got {spaced[0]!r}."
            )
        self.vocabulary = [str(v) for v in vocabulary]

    def augment_words(self, words):
        flat = words.flat_values
        size = tf.shape(flat)
        replace = self.uniform(size) < self.rate
        choice = keras.random.randint(size, 0, len(self.vocabulary), seed=self.seed_generator)
        replacements = tf.gather(tf.constant(self.vocabulary, tf.string), choice)
        return words.with_flat_values(tf.where(replace, replacements, flat))

    def get_config(self):
        config = super().get_config()
        config["vocabulary"] = list(self.vocabulary)
        return config
