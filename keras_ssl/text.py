"""WordPiece and SentencePiece tokenizers trained on a corpus (keras-hub).

`train_wordpiece` learns a vocabulary with
`keras_hub.tokenizers.compute_word_piece_vocabulary` and returns a
`keras_hub.tokenizers.WordPieceTokenizer`; `save_vocabulary` and
`load_tokenizer` write and read it as a BERT-style `vocab.txt` (one token a
line, the token id is the line number). `train_sentencepiece` trains a
SentencePiece model (ALBERT's tokenizer) and returns a
`keras_hub.tokenizers.SentencePieceTokenizer`; both put the same special
tokens first.

Word-level augmentation of raw strings (EDA's random deletion, swap and
replacement; usable in `tf.data.Dataset.map`) is here too:
`RandomWordDeletion`, `RandomWordSwap`, `RandomWordReplacement` (defined in
`keras_ssl.layers`).
"""

import io
import math
import os
import re

import keras_hub
import numpy as np
import sentencepiece as spm
import tensorflow as tf

from keras_ssl.layers.word_augmentation import RandomWordDeletion  # noqa: F401
from keras_ssl.layers.word_augmentation import RandomWordReplacement  # noqa: F401
from keras_ssl.layers.word_augmentation import RandomWordSwap  # noqa: F401
from keras_ssl.utils import check_choice

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
OOV_TOKEN = "[UNK]"
PAD_TOKEN = "[PAD]"
SENTENCE_PIECE_MODELS = ("unigram", "bpe", "word", "char")
# SentencePiece skips longer lines (in bytes); its default is 4192.
MAX_SENTENCE_PIECE_LINE = 1 << 16


def _as_string_dataset(texts):
    """A dataset of scalar strings from a list, array, tensor or dataset."""
    if isinstance(texts, tf.data.Dataset):
        spec = texts.element_spec
        if not isinstance(spec, (tf.TensorSpec, tf.RaggedTensorSpec)) or spec.dtype != tf.string:
            raise TypeError(
                "`texts` must be a tf.data.Dataset of strings (e.g. from "
                f"keras_ssl.datasets.load_text), got elements {spec}."
            )
        if spec.shape.rank != 0:
            texts = texts.unbatch()
        return texts
    if isinstance(texts, str):
        raise TypeError(
            "`texts` must be a list or a dataset of strings, got a single string; "
            "wrap it in a list."
        )
    if isinstance(texts, (list, tuple, np.ndarray, tf.Tensor)):
        items = np.asarray(texts, dtype=object).reshape(-1) if not isinstance(
            texts, tf.Tensor) else texts
        if isinstance(items, np.ndarray):
            if any(not isinstance(t, (str, bytes)) for t in items):
                raise TypeError("`texts` must hold only strings.")
            items = tf.constant(list(items), dtype=tf.string)
        elif items.dtype != tf.string:
            raise TypeError(f"`texts` must hold strings, got dtype {items.dtype.name}.")
        return tf.data.Dataset.from_tensor_slices(tf.reshape(items, [-1]))
    raise TypeError(
        "`texts` must be a tf.data.Dataset of strings or a list of strings, got "
        f"{type(texts).__name__}."
    )


def _training_corpus(texts, vocabulary_size, reserved_tokens, max_texts):
    """Check the arguments every tokenizer trainer shares; return the corpus
    as a dataset of scalar strings (at most `max_texts`) and the reserved
    tokens as a list."""
    reserved_tokens = list(reserved_tokens)
    if not all(isinstance(t, str) and t for t in reserved_tokens):
        raise TypeError(f"`reserved_tokens` must be non-empty strings, got {reserved_tokens!r}.")
    if len(set(reserved_tokens)) != len(reserved_tokens):
        raise ValueError(f"`reserved_tokens` has duplicates: {reserved_tokens!r}.")
    if OOV_TOKEN not in reserved_tokens:
        raise ValueError(
            f"`reserved_tokens` must contain the out-of-vocabulary token {OOV_TOKEN!r}, "
            f"got {reserved_tokens!r}."
        )
    if isinstance(vocabulary_size, bool) or not isinstance(vocabulary_size, (int, np.integer)):
        raise TypeError(f"`vocabulary_size` must be an integer, got {vocabulary_size!r}.")
    if vocabulary_size <= len(reserved_tokens):
        raise ValueError(
            f"`vocabulary_size` ({vocabulary_size}) must be larger than the number of "
            f"special tokens ({len(reserved_tokens)}: {reserved_tokens}), to leave room "
            "for words."
        )
    if max_texts is not None and (isinstance(max_texts, bool) or int(max_texts) < 1):
        raise ValueError(f"`max_texts` must be a positive integer or None, got {max_texts!r}.")
    dataset = _as_string_dataset(texts)
    if max_texts is not None:
        dataset = dataset.take(int(max_texts))
    if next(iter(dataset.take(1)), None) is None:
        raise ValueError("`texts` is empty: cannot train a vocabulary on no text.")
    return dataset, reserved_tokens


# The count under which TensorFlow Text's WordPiece learner (through
# keras-hub) does not keep a word whole (its `lower_thresh`).
LEARNER_MIN_COUNT = 10


def train_wordpiece(texts, vocabulary_size=8000, lowercase=True,
                    reserved_tokens=SPECIAL_TOKENS, max_texts=None, min_frequency=None):
    """Train a WordPiece vocabulary on a corpus; return a keras-hub tokenizer.

    Wraps `keras_hub.tokenizers.compute_word_piece_vocabulary` (the BERT
    WordPiece algorithm of Wu et al. 2016 as implemented in TensorFlow
    Text). The reserved tokens come first, in order: with the default,
    `[PAD]` has id 0, `[UNK]` 1, `[CLS]` 2, `[SEP]` 3 and `[MASK]` 4.

    Args:
        texts: a `tf.data.Dataset` of strings (scalar or batched, e.g. from
            `keras_ssl.datasets.load_text`), or a list of strings.
        vocabulary_size: the vocabulary's maximum size, reserved tokens
            included. The result can be smaller on a small corpus: use
            `tokenizer.vocabulary_size()` for the model.
        lowercase: lower-case text before splitting; the tokenizer keeps the
            same setting.
        reserved_tokens: special tokens placed first. Must contain `[UNK]`
            (the out-of-vocabulary token); `MaskedLanguageModel` also needs
            `[PAD]`, `[CLS]`, `[SEP]` and `[MASK]`.
        max_texts: learn the vocabulary from at most this many strings
            (the first ones), to bound the time on a large corpus.
        min_frequency: keep whole the words seen about this many times or
            more (as room in the vocabulary allows). The learner's search
            starts from words seen 10 times, which on a small corpus (a few
            thousand captions) leaves most words split into pieces and the
            vocabulary far under `vocabulary_size`. keras-hub does not pass
            the learner's threshold through, so the corpus is read
            `ceil(10 / min_frequency)` times, which scales every count
            alike. None: the learner's own 10.

    Returns:
        A `keras_hub.tokenizers.WordPieceTokenizer` (ragged output, `[UNK]`
        for unknown words).

    Example:

    >>> tok = train_wordpiece(["the cat sat", "the dog sat"], vocabulary_size=40)
    >>> tok.id_to_token(0), tok.token_to_id("[MASK]")
    ('[PAD]', 4)
    >>> tok.detokenize(tok(["The cat sat"]))
    ['the cat sat']
    """
    dataset, reserved_tokens = _training_corpus(texts, vocabulary_size, reserved_tokens,
                                                max_texts)
    if min_frequency is not None:
        if isinstance(min_frequency, bool) or not isinstance(min_frequency, (int, np.integer)) \
                or min_frequency < 1:
            raise ValueError(
                f"`min_frequency` must be a positive integer or None, got {min_frequency!r}.")
        dataset = dataset.repeat(math.ceil(LEARNER_MIN_COUNT / int(min_frequency)))
    try:
        vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
            dataset.batch(1024),
            vocabulary_size=int(vocabulary_size),
            lowercase=lowercase,
            reserved_tokens=reserved_tokens,
        )
    except (StopIteration, RuntimeError) as e:
        # TensorFlow Text's learner fails this way on a corpus without words.
        raise ValueError(
            "`texts` holds no words (only empty strings or whitespace): cannot "
            "train a vocabulary."
        ) from e
    if len(vocabulary) <= len(reserved_tokens):
        raise ValueError(
            "`texts` holds no words (only empty strings or whitespace): cannot "
            "train a vocabulary."
        )
    return keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=vocabulary, lowercase=lowercase, oov_token=OOV_TOKEN
    )


def train_sentencepiece(texts, vocabulary_size=8000, lowercase=True,
                        reserved_tokens=SPECIAL_TOKENS, max_texts=None, model_type="unigram"):
    """Train a SentencePiece model on a corpus; return a keras-hub tokenizer.

    Runs the `sentencepiece` trainer (Kudo and Richardson 2018; the unigram
    language model of Kudo 2018 by default, as ALBERT uses) on the texts,
    one line at a time, and wraps the model in a
    `keras_hub.tokenizers.SentencePieceTokenizer`. The reserved tokens come
    first, in order, as in `train_wordpiece`: with the default, `[PAD]` has
    id 0, `[UNK]` 1, `[CLS]` 2, `[SEP]` 3 and `[MASK]` 4, so the tokenizer
    serves `MaskedLanguageModel` like a WordPiece one. `[PAD]` and `[UNK]`
    are SentencePiece's padding and unknown pieces; the others are
    user-defined symbols, which the tokenizer keeps whole where they are
    written in a string (`"the [MASK] is"`), as `fill_mask` needs. No
    begin- or end-of-sentence pieces are added.

    Args:
        texts: a `tf.data.Dataset` of strings (scalar or batched, e.g. from
            `keras_ssl.datasets.load_text`), or a list of strings.
        vocabulary_size: the vocabulary's maximum size, reserved tokens
            included. The result can be smaller on a small corpus: use
            `tokenizer.vocabulary_size()` for the model. `"unigram"` and
            `"bpe"` models also need room for every character of the corpus.
        lowercase: case-fold the text; the fold is a normalization rule
            stored in the model, so the tokenizer lowercases its inputs
            itself (`"The"` and `"the"` get the same ids).
        reserved_tokens: special tokens placed first. Must contain `[UNK]`
            (the out-of-vocabulary token); `MaskedLanguageModel` also needs
            `[PAD]`, `[CLS]`, `[SEP]` and `[MASK]`.
        max_texts: learn the model from at most this many strings (the
            first ones), to bound the time on a large corpus.
        model_type: the SentencePiece algorithm: `"unigram"`, `"bpe"`,
            `"word"` or `"char"`.

    Returns:
        A `keras_hub.tokenizers.SentencePieceTokenizer` (ragged output,
        `[UNK]` for unknown pieces).

    Raises:
        ValueError: an empty corpus or one without words, a bad argument,
            or a `vocabulary_size` too small for the reserved tokens and
            the corpus's characters (the message says the smallest size).

    Example:

    >>> tok = train_sentencepiece(["the cat sat", "the dog sat"] * 4, vocabulary_size=40)
    >>> tok.id_to_token(0), tok.token_to_id("[MASK]")
    ('[PAD]', 4)
    >>> tok.detokenize(tok(["The cat sat"]))
    ['the cat sat']
    """
    check_choice("model_type", model_type, SENTENCE_PIECE_MODELS)
    dataset, reserved_tokens = _training_corpus(texts, vocabulary_size, reserved_tokens,
                                                max_texts)
    meta = {"unk_id": reserved_tokens.index(OOV_TOKEN), "unk_piece": OOV_TOKEN,
            "pad_id": -1, "bos_id": -1, "eos_id": -1}
    if PAD_TOKEN in reserved_tokens:
        meta.update(pad_id=reserved_tokens.index(PAD_TOKEN), pad_piece=PAD_TOKEN)
    # The trainer fills the ids left free by [UNK] and [PAD] with the
    # user-defined symbols in order, so the reserved tokens keep theirs.
    symbols = [t for t in reserved_tokens if t not in (OOV_TOKEN, PAD_TOKEN)]

    def lines():
        for text in dataset.as_numpy_iterator():
            for line in text.decode("utf-8").splitlines():
                if line.strip():
                    yield line

    if next(lines(), None) is None:
        raise ValueError(
            "`texts` holds no words (only empty strings or whitespace): cannot "
            "train a vocabulary."
        )
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=lines(),
            model_writer=model,
            vocab_size=int(vocabulary_size),
            model_type=model_type,
            normalization_rule_name="nmt_nfkc_cf" if lowercase else "nmt_nfkc",
            user_defined_symbols=symbols,
            # `vocabulary_size` is a maximum, as for WordPiece: a small
            # corpus gives a smaller vocabulary instead of an error.
            hard_vocab_limit=False,
            max_sentence_length=MAX_SENTENCE_PIECE_LINE,
            minloglevel=2,
            **meta,
        )
    except RuntimeError as e:
        needed = re.search(r"smaller than required_chars\. \d+ vs (\d+)", str(e))
        if needed:
            raise ValueError(
                f"`vocabulary_size` ({vocabulary_size}) is too small for this corpus: a "
                f"{model_type!r} SentencePiece model needs at least {needed.group(1)} "
                "pieces (the reserved tokens and every character of the texts)."
            ) from e
        raise ValueError(f"SentencePiece training failed on `texts`: {e}") from e
    tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=model.getvalue())
    if tokenizer.get_vocabulary()[:len(reserved_tokens)] != reserved_tokens:
        raise ValueError(
            f"The trained SentencePiece vocabulary does not start with `reserved_tokens` "
            f"{reserved_tokens!r} (got {tokenizer.get_vocabulary()[:len(reserved_tokens)]!r})."
        )
    return tokenizer


def _check_tokenizer(tokenizer):
    if not isinstance(tokenizer, (keras_hub.tokenizers.WordPieceTokenizer,
                                  keras_hub.tokenizers.SentencePieceTokenizer)):
        raise TypeError(
            "`tokenizer` must be a keras_hub.tokenizers.WordPieceTokenizer or "
            f"SentencePieceTokenizer, got {type(tokenizer).__name__}."
        )
    if tokenizer.get_vocabulary() is None:
        raise ValueError("`tokenizer` has no vocabulary.")


def vocabulary_filename(tokenizer):
    """The file name `save_vocabulary` gives a tokenizer's vocabulary:
    `vocabulary.txt` (WordPiece) or `sentencepiece.model`."""
    _check_tokenizer(tokenizer)
    if isinstance(tokenizer, keras_hub.tokenizers.SentencePieceTokenizer):
        return "sentencepiece.model"
    return "vocabulary.txt"


def save_vocabulary(tokenizer, path):
    """Write the tokenizer's vocabulary to `path`; `load_tokenizer(path)`
    reads it back. Returns `path`.

    A WordPiece vocabulary is a BERT-style `vocab.txt`, one token a line (the
    token id is the line number); a SentencePiece tokenizer's is its model
    file (name it `*.model`, see `vocabulary_filename`).
    """
    _check_tokenizer(tokenizer)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if isinstance(tokenizer, keras_hub.tokenizers.SentencePieceTokenizer):
        with open(path, "wb") as f:
            f.write(tokenizer.proto)
        return path
    with open(path, "w", encoding="utf-8") as f:
        for token in tokenizer.get_vocabulary():
            f.write(token + "\n")
    return path


def load_tokenizer(path, lowercase=True):
    """A tokenizer from a vocabulary file (see `save_vocabulary`).

    Args:
        path: a WordPiece vocabulary file, one token a line, or a
            SentencePiece model file (`*.model`).
        lowercase: for WordPiece, must match the setting the vocabulary was
            trained with (`train_wordpiece`'s default is True); a
            SentencePiece model carries its own normalization.

    Example:

    >>> import tempfile, os
    >>> tok = train_wordpiece(["the cat sat"], vocabulary_size=30)
    >>> path = save_vocabulary(tok, os.path.join(tempfile.mkdtemp(), "vocab.txt"))
    >>> load_tokenizer(path).get_vocabulary() == tok.get_vocabulary()
    True
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"`path` {path!r} does not exist (expected a vocabulary file).")
    if path.endswith(".model"):
        with open(path, "rb") as f:
            return keras_hub.tokenizers.SentencePieceTokenizer(proto=f.read())
    with open(path, encoding="utf-8") as f:
        vocabulary = [line.rstrip("\n") for line in f]
    if vocabulary and vocabulary[-1] == "":
        vocabulary.pop()
    if OOV_TOKEN not in vocabulary:
        raise ValueError(
            f"The vocabulary file {path!r} has no {OOV_TOKEN} token; is it a WordPiece "
            "vocabulary written by save_vocabulary?"
        )
    return keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=vocabulary, lowercase=lowercase, oov_token=OOV_TOKEN
    )
