import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from tests.testing import run_model_saving_test, run_serialization_test


def test_mask_statistics(make_mlm, sentences):
    """keras-hub's generator as configured: 15% of non-special tokens, 80/10/10."""
    mlm = make_mlm(sequence_length=32)
    assert isinstance(mlm.masker, keras_hub.layers.MaskedLMMaskGenerator)
    # Texts of exactly 20 single-token words, so 15% is exactly 3 a row
    # (the generator selects ceil(rate * tokens) per sequence).
    vocabulary = set(mlm.tokenizer.get_vocabulary())
    words = sorted({w for s in sentences for w in s.split() if w in vocabulary})
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, 20)) for _ in range(200)]
    token_ids, padding_mask = mlm.pack(tf.constant(texts))
    original = token_ids.numpy()
    special = np.isin(original, list(mlm.special_token_ids.values()))
    assert ((~special).sum(axis=1) == 20).all()
    mask_id = mlm.special_token_ids["[MASK]"]
    selected = as_mask = unchanged = candidates = 0
    tf.random.set_seed(0)
    for _ in range(10):
        out = {k: v.numpy() for k, v in mlm.mask(token_ids).items()}
        assert out["mask_positions"].shape == (len(original), mlm.mask_selection_length)
        chosen = np.zeros_like(original, dtype=bool)
        for row in range(len(original)):
            picks = out["mask_positions"][row][out["mask_weights"][row] > 0]
            assert len(set(picks)) == len(picks)
            chosen[row, picks] = True
            # mask_ids are the original tokens at the selected positions.
            np.testing.assert_array_equal(
                out["mask_ids"][row][: len(picks)], original[row][picks])
        assert not (chosen & special).any(), "a special token was selected"
        np.testing.assert_array_equal(out["token_ids"][~chosen], original[~chosen])
        candidates += int((~special).sum())
        selected += int(chosen.sum())
        as_mask += int((out["token_ids"][chosen] == mask_id).sum())
        unchanged += int((out["token_ids"][chosen] == original[chosen]).sum())
    assert selected / candidates == pytest.approx(0.15, abs=0.005)
    assert as_mask / selected == pytest.approx(0.8, abs=0.03)
    # 10% kept, plus the random draws that happen to pick the same token.
    assert unchanged / selected == pytest.approx(0.1, abs=0.03)
    assert (selected - as_mask - unchanged) / selected == pytest.approx(0.1, abs=0.03)
    assert np.asarray(padding_mask).sum() == (original != 0).sum()


def test_short_sequences_never_select_special_tokens(make_mlm, sentences):
    mlm = make_mlm(sequence_length=8)
    token_ids, _ = mlm.pack(tf.constant(sentences + ["cat", "a b"]))
    special = np.isin(token_ids.numpy(), list(mlm.special_token_ids.values()))
    for _ in range(5):
        out = mlm.mask(token_ids)
        for row, (positions, weights) in enumerate(
                zip(out["mask_positions"].numpy(), out["mask_weights"].numpy())):
            picks = positions[weights > 0]
            assert len(picks) == int(np.ceil(0.15 * (~special[row]).sum()))
            assert not special[row, picks].any()


def test_loss_falls_metrics_and_save_load(make_mlm, sentences, tmp_path):
    keras.utils.set_random_seed(0)
    mlm = make_mlm()
    mlm.compile(optimizer=keras.optimizers.AdamW(3e-3))
    ds = tf.data.Dataset.from_tensor_slices(sentences).batch(12)
    losses = []
    for _ in range(4):
        history = mlm.fit(ds, epochs=3, verbose=0)
        losses.extend(history.history["loss"])
    assert set(history.history) == {"loss", "masked_accuracy", "perplexity"}
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.5, losses
    assert history.history["perplexity"][-1] == pytest.approx(np.exp(losses[-1]), rel=1e-4)
    assert history.history["masked_accuracy"][-1] > 0.1
    texts = tf.constant(sentences[:4])
    revived = run_model_saving_test(mlm, texts, tmp_path)
    assert revived.tokenizer.get_vocabulary() == mlm.tokenizer.get_vocabulary()
    assert revived.sequence_length == 16 and revived.special_token_ids == mlm.special_token_ids
    # The optimizer comes back too, so training resumes.
    assert revived.optimizer.iterations.numpy() == mlm.optimizer.iterations.numpy()


def test_config_round_trip(make_mlm):
    mlm = make_mlm(mask_rate=0.2, mask_token_rate=0.7, random_token_rate=0.2)
    revived = run_serialization_test(mlm)
    assert (revived.mask_rate, revived.mask_token_rate, revived.random_token_rate) == (
        0.2, 0.7, 0.2)


def test_token_id_inputs_pack_like_strings(make_mlm, tokenizer, sentences):
    mlm = make_mlm()
    texts = tf.constant(sentences[:6])
    from_strings, mask = mlm.pack(texts)
    ragged = tf.ragged.constant(tokenizer(texts))
    from_ragged, _ = mlm.pack(ragged)
    from_dense, _ = mlm.pack(ragged.to_tensor())
    from_packed, mask_packed = mlm.pack(from_strings)
    for ids in (from_ragged, from_dense, from_packed):
        np.testing.assert_array_equal(ids, from_strings)
    np.testing.assert_array_equal(mask_packed, mask)
    np.testing.assert_allclose(mlm(ragged), mlm(texts), atol=1e-6)
    mlm.compile(optimizer="auto")
    history = mlm.fit(tf.data.Dataset.from_tensor_slices(ragged).batch(3), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # Strings shaped (N, 1) are accepted too (e.g. a text column).
    np.testing.assert_allclose(mlm(tf.reshape(texts, (-1, 1))), mlm(texts), atol=1e-6)


def test_errors_name_the_argument(tokenizer):
    bert = keras_ssl.backbones.BertTiny(tokenizer.vocabulary_size(), max_sequence_length=16,
                                        hidden_dim=16, intermediate_dim=16)
    MLM = keras_ssl.methods.MaskedLanguageModel
    with pytest.raises(ValueError, match=r"sequence_length.*64.*max_sequence_length.*16"):
        MLM(bert, tokenizer, sequence_length=64)
    for rate in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="mask_rate"):
            MLM(bert, tokenizer, sequence_length=16, mask_rate=rate)
    with pytest.raises(ValueError, match="random_token_rate"):
        MLM(bert, tokenizer, sequence_length=16, mask_token_rate=0.8, random_token_rate=0.3)
    with pytest.raises(ValueError, match="vocabulary"):
        MLM(keras_ssl.backbones.BertTiny(50, max_sequence_length=16), tokenizer,
            sequence_length=16)
    with pytest.raises(TypeError, match="BertBackbone"):
        MLM(keras.Sequential([keras.layers.Dense(2)]), tokenizer, sequence_length=16)
    no_mask = keras_ssl.text.train_wordpiece(
        ["the cat sat"], vocabulary_size=20, reserved_tokens=("[PAD]", "[UNK]", "[CLS]", "[SEP]"))
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        MLM(keras_ssl.backbones.BertTiny(no_mask.vocabulary_size(), 16), no_mask,
            sequence_length=16)
    mlm = MLM(bert, tokenizer, sequence_length=16)
    with pytest.raises(TypeError, match="strings or integer token ids"):
        mlm.pack(tf.constant([[0.5, 1.0]]))
    with pytest.raises(ValueError, match="BertTiny|positive"):
        keras_ssl.backbones.BertTiny(0)
    with pytest.raises(ValueError, match="divisible"):
        keras_ssl.backbones.BertTiny(50, hidden_dim=30, num_heads=4)
    with pytest.raises(TypeError, match="Unknown BertBackbone"):
        keras_ssl.backbones.BertSmall(50, hidden_size=30)


def test_non_finite_loss_stops_before_update(make_mlm, sentences):
    mlm = make_mlm()
    mlm.compile(optimizer="auto")
    embedding = mlm.backbone.token_embedding.embeddings
    embedding.assign(np.full(embedding.shape, np.nan, "float32"))
    before = [w.numpy().copy() for w in mlm.backbone.trainable_weights[1:3]]
    with pytest.raises(tf.errors.InvalidArgumentError, match="non-finite loss or gradients at optimizer step"):
        mlm.fit(tf.constant(sentences[:8]), batch_size=8, epochs=1, verbose=0)
    for a, b in zip(before, mlm.backbone.trainable_weights[1:3]):
        np.testing.assert_array_equal(a, b.numpy())


def test_jit_compile_refused_and_auto_resolves_off(make_mlm):
    model = make_mlm()
    with pytest.raises(ValueError, match="`jit_compile`=True is not supported"):
        model.compile(optimizer="auto", jit_compile=True)
    model.compile(optimizer="auto")
    assert model.jit_compile is False
