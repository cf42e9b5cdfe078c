"""Sentence-order (ALBERT) and next-sentence (BERT) prediction in
MaskedLanguageModel, on BERT and on ALBERT with a SentencePiece tokenizer."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from tests.testing import run_model_saving_test

SEQUENCE_LENGTH = 16
# Distinct texts, two longer than the sequence, so every pair is traceable
# to its text.
TEXTS = [
    "the cat sat on the mat", "the dog sat on the log", "a cat and a dog ran",
    "the bird sang in the tree", "a fish swam in the sea", "the sun rose over the hill",
    "the cat chased the bird", "the dog chased the cat", "a bird flew over the sea",
    "the fish ate the worm", "the moon shone on the sea", "a dog slept on the mat",
    "the cat sat on the mat and the dog sat on the log and a bird sang in the tree",
    "a fish swam in the sea while the sun rose over the hill and the moon shone",
]


def make_model(tokenizer, sentence_task, backbone=None, sequence_length=SEQUENCE_LENGTH):
    backbone = backbone or keras_ssl.backbones.BertTiny(
        tokenizer.vocabulary_size(), max_sequence_length=32, hidden_dim=32,
        intermediate_dim=64, dropout=0.0)
    return keras_ssl.methods.MaskedLanguageModel(
        backbone, tokenizer, sequence_length=sequence_length, sentence_task=sentence_task)


def text_tokens(model, texts):
    """Each text's tokens as a list, cut to what a pair can hold."""
    return [list(map(int, ids))[:model.sequence_length - 3]
            for ids in tf.ragged.constant(model.tokenizer(tf.constant(texts))).to_list()]


def split_pairs(model, pairs):
    """(A, B) token lists of each packed pair, checking the layout
    `[CLS] A [SEP] B [SEP] [PAD]...` with segment ids 0 then 1."""
    ids = model.special_token_ids
    segments = []
    for tokens, segment_ids, mask in zip(pairs["token_ids"].numpy(),
                                         pairs["segment_ids"].numpy(),
                                         pairs["padding_mask"].numpy()):
        real = int(mask.sum())
        np.testing.assert_array_equal(mask, np.arange(len(tokens)) < real)
        assert (tokens[real:] == ids["[PAD]"]).all()
        seps = np.flatnonzero(tokens == ids["[SEP]"])
        assert tokens[0] == ids["[CLS]"] and len(seps) == 2 and seps[1] == real - 1
        expected = np.zeros_like(segment_ids)
        expected[seps[0] + 1:real] = 1
        np.testing.assert_array_equal(segment_ids, expected)
        segments.append((list(tokens[1:seps[0]]), list(tokens[seps[0] + 1:seps[1]])))
    return segments


def starts_word(model, token):
    return not model.tokenizer.id_to_token(int(token)).startswith("##")


def test_sop_pairs_swap_half_the_time(tokenizer):
    keras.utils.set_random_seed(0)
    model = make_model(tokenizer, "sop")
    texts = TEXTS + ["cat"]  # one word: cannot be cut
    originals = text_tokens(model, texts)
    labels = []
    for _ in range(40):
        pairs = model.sentence_pairs(texts)
        weights = pairs["sentence_weights"].numpy()
        np.testing.assert_array_equal(weights, [1] * len(TEXTS) + [0])
        for row, ((a, b), label) in enumerate(
                zip(split_pairs(model, pairs), pairs["sentence_labels"].numpy())):
            if not weights[row]:
                assert (a, b) == (originals[row], [])
                continue
            assert a and b
            # Label 1: B came first. Both halves are whole words.
            assert (b + a if label else a + b) == originals[row]
            assert starts_word(model, a[0]) and starts_word(model, b[0])
            labels.append(label)
    assert np.mean(labels) == pytest.approx(0.5, abs=0.07)
    # The cut moves: texts of many words are cut at many places.
    assert len({len(a) for a, _ in split_pairs(model, model.sentence_pairs(TEXTS[-1:] * 30))}) > 3


def test_nsp_pairs_borrow_another_text_half_the_time(tokenizer):
    keras.utils.set_random_seed(1)
    model = make_model(tokenizer, "nsp")
    originals = text_tokens(model, TEXTS)
    labels = []
    for _ in range(40):
        pairs = model.sentence_pairs(TEXTS)
        assert (pairs["sentence_weights"].numpy() == 1).all()
        for row, ((a, b), label) in enumerate(
                zip(split_pairs(model, pairs), pairs["sentence_labels"].numpy())):
            assert originals[row][:len(a)] == a and a and b
            if label:
                # A random other text's second part (its tail from a word
                # start), possibly cut short to fit.
                assert any(other != row and any(
                    originals[other][cut:cut + len(b)] == b and starts_word(model, b[0])
                    for cut in range(1, len(originals[other])))
                    for other in range(len(TEXTS)))
            else:
                assert a + b == originals[row]
            labels.append(label)
    assert np.mean(labels) == pytest.approx(0.5, abs=0.07)
    # A batch of one text has no other text to borrow from.
    single = model.sentence_pairs(TEXTS[:1])
    assert single["sentence_labels"].numpy().tolist() == [0]


def test_masker_never_selects_special_tokens_of_pairs(tokenizer):
    model = make_model(tokenizer, "sop")
    assert model.masker.unselectable_token_ids == [
        model.special_token_ids[t] for t in ("[PAD]", "[CLS]", "[SEP]")]
    pairs = model.sentence_pairs(TEXTS * 2)
    token_ids = pairs["token_ids"].numpy()
    special = np.isin(token_ids, list(model.special_token_ids.values()))
    for _ in range(5):
        out = model.mask(pairs["token_ids"])
        for row, (positions, weights) in enumerate(
                zip(out["mask_positions"].numpy(), out["mask_weights"].numpy())):
            picks = positions[weights > 0]
            assert len(picks) == int(np.ceil(0.15 * (~special[row]).sum()))
            assert not special[row, picks].any()


def test_nsp_training_and_save_load(tokenizer, sentences, tmp_path):
    keras.utils.set_random_seed(0)
    model = make_model(tokenizer, "nsp")
    model.compile(optimizer=keras.optimizers.AdamW(3e-3))
    pooler = model.backbone.get_layer("pooled_dense").kernel.numpy().copy()
    ds = tf.data.Dataset.from_tensor_slices(sentences).batch(12)
    losses = []
    for _ in range(3):
        history = model.fit(ds, epochs=3, verbose=0)
        losses.extend(history.history["loss"])
    assert set(history.history) == {"loss", "masked_accuracy", "perplexity", "sentence_accuracy"}
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.3, losses
    assert 0 <= history.history["sentence_accuracy"][-1] <= 1
    # The sentence task trains the pooler.
    assert not np.allclose(model.backbone.get_layer("pooled_dense").kernel.numpy(), pooler)
    revived = run_model_saving_test(model, tf.constant(sentences[:4]), tmp_path)
    assert revived.sentence_task == "nsp"
    np.testing.assert_allclose(revived.sentence_head.kernel.numpy(),
                               model.sentence_head.kernel.numpy())
    assert revived.optimizer.iterations.numpy() == model.optimizer.iterations.numpy()
    assert revived.get_config()["sentence_task"] == "nsp"
    assert "sentence_head" not in [layer.name for layer in make_model(tokenizer, None).layers]


def test_albert_with_sentencepiece_end_to_end(sentences, tmp_path):
    keras.utils.set_random_seed(0)
    tokenizer = keras_ssl.text.train_sentencepiece(sentences, vocabulary_size=200)
    assert isinstance(tokenizer, keras_hub.tokenizers.SentencePieceTokenizer)
    albert = keras_ssl.backbones.AlbertTiny(
        tokenizer.vocabulary_size(), max_sequence_length=32, hidden_dim=32, embedding_dim=16,
        intermediate_dim=64, dropout=0.0)
    assert isinstance(albert, keras_hub.models.AlbertBackbone)
    model = make_model(tokenizer, "sop", backbone=albert, sequence_length=24)
    # The masked-LM head is tied to ALBERT's factorized embedding (16 < 32).
    assert model.mlm_head.token_embedding is albert.token_embedding
    model.compile(optimizer="auto")
    history = model.fit(tf.data.Dataset.from_tensor_slices(sentences).batch(12), epochs=2,
                        verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert "sentence_accuracy" in history.history
    embeddings = model.predict(sentences[:3], verbose=0)
    assert embeddings.shape == (3, 32) and np.isfinite(embeddings).all()
    revived = run_model_saving_test(model, tf.constant(sentences[:3]), tmp_path)
    assert isinstance(revived.tokenizer, keras_hub.tokenizers.SentencePieceTokenizer)
    assert revived.tokenizer.proto == tokenizer.proto
    assert revived.special_token_ids == model.special_token_ids
    assert isinstance(revived.backbone, keras_hub.models.AlbertBackbone)
    for m in (model, revived):
        [candidates] = m.fill_mask(["the [MASK] is"], top_k=3)
        assert len(candidates) == 3
        assert all(isinstance(t, str) and 0 <= p <= 1 for t, p in candidates)
    assert revived.fill_mask(["the [MASK] is"]) == model.fill_mask(["the [MASK] is"])


def test_fill_mask_sentencepiece_keeps_mask_whole(sentences):
    tokenizer = keras_ssl.text.train_sentencepiece(sentences, vocabulary_size=200)
    model = make_model(tokenizer, None)
    token_ids, _, positions, _ = model.masked_inputs(["the [MASK] is", "The cat [MASK]"], 2)
    mask_id = tokenizer.token_to_id("[MASK]")
    for row, where in zip(token_ids.numpy(), positions):
        assert len(where) == 1 and row[where[0]] == mask_id
        # No lone word-start piece is left in front of the mask.
        assert tokenizer.id_to_token(int(row[where[0] - 1])) != "\u2581"
    assert [len(c) for c in model.fill_mask(["the [MASK] is", "a [MASK] [MASK]"], top_k=2)] == [
        2, 2]


def test_errors(tokenizer):
    bert = keras_ssl.backbones.BertTiny(tokenizer.vocabulary_size(), max_sequence_length=16,
                                        hidden_dim=16, intermediate_dim=16)
    MLM = keras_ssl.methods.MaskedLanguageModel
    with pytest.raises(ValueError, match=r"sentence_task.*'sop'.*'nsp'"):
        MLM(bert, tokenizer, sequence_length=16, sentence_task="mlm")
    with pytest.raises(TypeError, match="BertBackbone or keras_hub.models.AlbertBackbone"):
        MLM(keras_ssl.backbones.GPTTiny(tokenizer.vocabulary_size(), 16), tokenizer,
            sequence_length=16, sentence_task="sop")
    with pytest.raises(ValueError, match="sentence task"):
        MLM(bert, tokenizer, sequence_length=16).sentence_pairs(["the cat"])
    no_sep = keras_ssl.text.train_wordpiece(
        ["the cat sat"], vocabulary_size=20, reserved_tokens=("[PAD]", "[UNK]", "[CLS]", "[MASK]"))
    with pytest.raises(ValueError, match=r"\[SEP\]"):
        MLM(keras_ssl.backbones.BertTiny(no_sep.vocabulary_size(), 16), no_sep,
            sequence_length=16, sentence_task="nsp")
    with pytest.raises(ValueError, match="too small"):
        keras_ssl.text.train_sentencepiece(TEXTS, vocabulary_size=12)
    with pytest.raises(ValueError, match="empty"):
        keras_ssl.text.train_sentencepiece([], vocabulary_size=100)
    with pytest.raises(ValueError, match="num_groups|positive"):
        keras_ssl.backbones.AlbertTiny(50, num_groups=0)
    with pytest.raises(ValueError, match="divisible"):
        keras_ssl.backbones.AlbertTiny(50, num_layers=3, num_groups=2)
    with pytest.raises(TypeError, match="Unknown AlbertBackbone"):
        keras_ssl.backbones.AlbertSmall(50, embedding_size=8)
