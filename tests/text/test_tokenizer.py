import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from keras_ssl.text import load_tokenizer, save_vocabulary, train_wordpiece


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
