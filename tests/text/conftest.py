"""Shared fixtures of the text tests: a tiny corpus, tokenizer and BERT."""

import pytest

import keras_ssl

SENTENCES = [
    "the cat sat on the mat", "the dog sat on the log", "a cat and a dog ran",
    "the bird sang in the tree", "a fish swam in the sea", "the sun rose over the hill",
    "the cat chased the bird", "the dog chased the cat", "a bird flew over the sea",
    "the fish ate the worm", "the moon shone on the sea", "a dog slept on the mat",
] * 3


@pytest.fixture(scope="session")
def sentences():
    return list(SENTENCES)


@pytest.fixture(scope="session")
def tokenizer():
    return keras_ssl.text.train_wordpiece(SENTENCES, vocabulary_size=200)


@pytest.fixture
def make_mlm(tokenizer):
    """A factory of tiny MaskedLanguageModels (hidden 32) on the fixture vocabulary."""

    def make(sequence_length=16, **kwargs):
        bert = keras_ssl.backbones.BertTiny(
            tokenizer.vocabulary_size(), max_sequence_length=32, hidden_dim=32,
            intermediate_dim=64, num_heads=2, dropout=0.0,
        )
        return keras_ssl.methods.MaskedLanguageModel(
            bert, tokenizer, sequence_length=sequence_length, **kwargs
        )

    return make
