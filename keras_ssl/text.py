"""WordPiece tokenizers trained on a corpus (keras-hub)."""

import os

import keras_hub
import tensorflow as tf

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def train_wordpiece(texts, vocabulary_size=8000, lowercase=True,
                    reserved_tokens=SPECIAL_TOKENS, max_texts=None):
    """Train a WordPiece vocabulary and return a keras-hub tokenizer.

    Wraps `keras_hub.tokenizers.compute_word_piece_vocabulary`; the special
    tokens come first ([PAD] has id 0).

    Args:
        texts: a `tf.data.Dataset` of strings, or a list of strings.
        vocabulary_size: the vocabulary's maximum size, special tokens included.
        lowercase: lower-case text before splitting (the same setting is
            stored in the tokenizer).
        reserved_tokens: special tokens, placed first.
        max_texts: train on at most this many strings.

    Returns:
        A `keras_hub.tokenizers.WordPieceTokenizer`.

    Example:

    >>> tok = train_wordpiece(["the cat sat", "the dog sat"], vocabulary_size=40)
    >>> tok.id_to_token(0), tok.token_to_id("[MASK]") == 4
    ('[PAD]', True)
    """
    reserved_tokens = list(reserved_tokens)
    if int(vocabulary_size) <= len(reserved_tokens):
        raise ValueError(
            f"`vocabulary_size` ({vocabulary_size}) must be larger than the "
            f"{len(reserved_tokens)} special tokens {reserved_tokens}."
        )
    if isinstance(texts, (list, tuple)):
        if not texts:
            raise ValueError("`texts` is empty: cannot train a vocabulary.")
        texts = tf.data.Dataset.from_tensor_slices(list(texts))
    if not isinstance(texts, tf.data.Dataset):
        raise TypeError(
            f"`texts` must be a tf.data.Dataset of strings or a list, got {type(texts).__name__}."
        )
    if texts.element_spec.shape.rank not in (0, None):
        texts = texts.unbatch()
    if max_texts:
        texts = texts.take(int(max_texts))
    if texts.take(1).cardinality() == 0 or next(iter(texts.take(1)), None) is None:
        raise ValueError("`texts` is empty: cannot train a vocabulary.")
    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
        texts.batch(1000),
        vocabulary_size=int(vocabulary_size),
        lowercase=lowercase,
        reserved_tokens=reserved_tokens,
    )
    return keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=vocabulary, lowercase=lowercase, oov_token="[UNK]",
    )


def save_vocabulary(tokenizer, path):
    """Write the tokenizer's vocabulary, one token a line."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for token in tokenizer.get_vocabulary():
            f.write(token + "\n")
    return path


def load_tokenizer(path, lowercase=True):
    """A WordPiece tokenizer from a vocabulary file written by `save_vocabulary`."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"`path` {path!r} does not exist.")
    return keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=path, lowercase=lowercase, oov_token="[UNK]"
    )
