import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from keras_ssl.text import load_tokenizer, save_vocabulary, train_sentencepiece, train_wordpiece


def test_vocabulary_and_round_trip(tokenizer, sentences, tmp_path):
    assert isinstance(tokenizer, keras_hub.tokenizers.WordPieceTokenizer)
    vocab = tokenizer.get_vocabulary()
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert 20 < tokenizer.vocabulary_size() <= 200
    ids = tokenizer(["The CAT sat on the zebra"])
    assert tokenizer.detokenize(ids)[0].startswith("the cat sat on the")
    assert "[UNK]" not in tokenizer.detokenize(tokenizer(["the cat"]))[0]
    path = save_vocabulary(tokenizer, tmp_path / "sub" / "vocab.txt")
    again = load_tokenizer(path)
    assert again.get_vocabulary() == vocab
    np.testing.assert_array_equal(
        tf.ragged.constant(again(tf.constant(sentences[:3]))).to_tensor(),
        tf.ragged.constant(tokenizer(tf.constant(sentences[:3]))).to_tensor())


def test_inputs_dataset_batched_and_max_texts(sentences):
    from_ds = train_wordpiece(keras_ssl.datasets.load_text(sentences).batch(5), vocabulary_size=200)
    assert from_ds.get_vocabulary() == train_wordpiece(sentences, vocabulary_size=200).get_vocabulary()
    few = train_wordpiece(sentences, vocabulary_size=200, max_texts=2)
    assert few.vocabulary_size() < from_ds.vocabulary_size()
    cased = train_wordpiece(["Hello World"] * 20, vocabulary_size=50, lowercase=False)
    assert "Hello" in cased.get_vocabulary() and "hello" not in cased.get_vocabulary()


def test_min_frequency_keeps_rare_words_whole():
    # Each word is seen 3 times: under the learner's threshold of 10 unless
    # min_frequency says otherwise.
    texts = ["outlined smiling face", "grinning squinting cat", "waving yellow hand"] * 3
    default = train_wordpiece(texts, vocabulary_size=200)
    rare = train_wordpiece(texts, vocabulary_size=200, min_frequency=3)
    assert "outlined" not in default.get_vocabulary()
    assert {"outlined", "squinting", "waving"} <= set(rare.get_vocabulary())
    with pytest.raises(ValueError, match="min_frequency"):
        train_wordpiece(texts, vocabulary_size=200, min_frequency=0)


def test_errors(sentences, tmp_path):
    with pytest.raises(ValueError, match="special tokens"):
        train_wordpiece(sentences, vocabulary_size=5)
    with pytest.raises(ValueError, match="empty"):
        train_wordpiece([], vocabulary_size=100)
    with pytest.raises(ValueError, match="empty"):
        train_wordpiece(tf.data.Dataset.from_tensor_slices(tf.constant([], tf.string)), 100)
    with pytest.raises(ValueError, match="no words"):
        train_wordpiece(["", "   "], vocabulary_size=100)
    with pytest.raises(ValueError, match=r"\[UNK\]"):
        train_wordpiece(sentences, reserved_tokens=("[PAD]", "[MASK]"))
    with pytest.raises(TypeError, match="strings"):
        train_wordpiece([1, 2, 3])
    with pytest.raises(TypeError, match="single string"):
        train_wordpiece("the cat sat")
    with pytest.raises(FileNotFoundError):
        load_tokenizer(tmp_path / "nope.txt")
    with pytest.raises(TypeError, match="WordPieceTokenizer"):
        save_vocabulary(object(), tmp_path / "v.txt")


def test_sentencepiece_vocabulary_lowercase_and_special_tokens(sentences):
    tok = train_sentencepiece(sentences, vocabulary_size=200)
    assert isinstance(tok, keras_hub.tokenizers.SentencePieceTokenizer)
    assert tok.get_vocabulary()[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert 20 < tok.vocabulary_size() <= 200
    # The case fold is part of the model: the tokenizer lowercases itself.
    upper, lower = tf.ragged.constant(tok(["The CAT Sat", "the cat sat"])).to_list()
    assert upper == lower
    assert tok.detokenize(tok(["The cat sat"]))[0] == "the cat sat"
    # Special tokens written in a string stay whole; nothing is unknown.
    ids = tf.ragged.constant(tok(["the [MASK] sat [SEP] on"])).to_list()[0]
    assert tok.token_to_id("[MASK]") in ids and tok.token_to_id("[SEP]") in ids
    assert tok.token_to_id("[UNK]") not in ids
    # In a graph (as in training) the tokens are the same.
    graph = tf.function(lambda x: tok(x))(tf.constant(["The CAT Sat"]))
    assert graph.to_list() == [upper]


def test_sentencepiece_inputs_and_options(sentences):
    from_ds = train_sentencepiece(keras_ssl.datasets.load_text(sentences).batch(5),
                                  vocabulary_size=200)
    assert from_ds.proto == train_sentencepiece(sentences, vocabulary_size=200).proto
    few = train_sentencepiece(sentences, vocabulary_size=200, max_texts=2)
    assert few.vocabulary_size() < from_ds.vocabulary_size()
    cased = train_sentencepiece(["Hello World", "hello world"] * 10, vocabulary_size=40,
                                lowercase=False)
    assert tf.ragged.constant(cased(["Hello", "hello"])).to_list()[0] != tf.ragged.constant(
        cased(["Hello", "hello"])).to_list()[1]
    bpe = train_sentencepiece(sentences, vocabulary_size=60, model_type="bpe",
                              reserved_tokens=("[UNK]", "[PAD]", "[X]"))
    assert bpe.get_vocabulary()[:3] == ["[UNK]", "[PAD]", "[X]"]
    assert bpe.vocabulary_size() == 60
    # Multi-line texts train line by line.
    lines = train_sentencepiece(["\n".join(sentences[:12])], vocabulary_size=200)
    assert lines.vocabulary_size() > 20


def test_sentencepiece_errors(sentences):
    with pytest.raises(ValueError, match="special tokens"):
        train_sentencepiece(sentences, vocabulary_size=5)
    with pytest.raises(ValueError, match=r"too small.*at least \d+"):
        train_sentencepiece(sentences, vocabulary_size=10)
    with pytest.raises(ValueError, match="empty"):
        train_sentencepiece([], vocabulary_size=100)
    with pytest.raises(ValueError, match="no words"):
        train_sentencepiece(["", "   "], vocabulary_size=100)
    with pytest.raises(ValueError, match=r"\[UNK\]"):
        train_sentencepiece(sentences, reserved_tokens=("[PAD]", "[MASK]"))
    with pytest.raises(ValueError, match="model_type"):
        train_sentencepiece(sentences, model_type="wordpiece")
    with pytest.raises(TypeError, match="single string"):
        train_sentencepiece("the cat sat")
