"""CausalLanguageModel: next-token loss, generation, perplexity, fill-mask,
serialization and export; fill_mask of MaskedLanguageModel; string inputs."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from keras_ssl.export_text import export_text_encoder
from tests.testing import run_model_saving_test


@pytest.fixture(scope="module")
def trained_clm(tokenizer, sentences):
    """A tiny GPT fitted on the fixture sentences until it has learned them."""
    keras.utils.set_random_seed(0)
    gpt = keras_ssl.backbones.GPTTiny(tokenizer.vocabulary_size(), max_sequence_length=24,
                                      hidden_dim=32, intermediate_dim=64, dropout=0.0)
    clm = keras_ssl.methods.CausalLanguageModel(gpt, tokenizer, sequence_length=16)
    untrained = clm.perplexity(sentences)
    clm.compile(optimizer=keras.optimizers.AdamW(3e-3))
    history = clm.fit(np.array(sentences), batch_size=12, epochs=40, verbose=0).history
    return clm, history, untrained


def test_loss_falls_and_perplexity_drops(trained_clm, sentences):
    clm, history, untrained = trained_clm
    assert sorted(history) == ["loss", "next_token_accuracy", "perplexity"]
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["next_token_accuracy"][-1] > 0.5
    np.testing.assert_allclose(history["perplexity"][-1], np.exp(history["loss"][-1]), rtol=1e-4)
    trained = clm.perplexity(sentences)
    assert 1.0 < trained < untrained / 4


def test_next_token_loss_ignores_padding(tokenizer):
    gpt = keras_ssl.backbones.GPTTiny(tokenizer.vocabulary_size(), max_sequence_length=32,
                                      hidden_dim=16, intermediate_dim=16, dropout=0.0)
    short = keras_ssl.methods.CausalLanguageModel(gpt, tokenizer, sequence_length=12)
    long = keras_ssl.methods.CausalLanguageModel(gpt, tokenizer, sequence_length=24)
    # The same text packed with more padding has the same loss: padded
    # positions are neither inputs that matter (causal) nor targets.
    texts = tf.constant(["the cat sat on the mat"])
    a, _ = short.compute_ssl_loss(short.pack(texts), training=False)
    b, _ = long.compute_ssl_loss(long.pack(texts), training=False)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5)


def test_generate_continues_prompts(trained_clm):
    clm, _, _ = trained_clm
    greedy = clm.generate(["the cat sat", "a fish swam"], max_length=16, sampler="greedy")
    assert len(greedy) == 2 and greedy[0].startswith("the cat sat")
    assert greedy[0] == "the cat sat on the mat"  # learned, then [SEP] ends it
    continuation = clm.generate(["the cat sat"], max_length=16, sampler="greedy",
                                strip_prompt=True)
    assert continuation == ["on the mat"]
    sampler = keras_hub.samplers.TopKSampler(k=3, seed=1)
    sampled = clm.generate(np.array(["the dog"]), max_length=12, sampler=sampler)
    assert sampled[0].startswith("the dog") and len(sampled[0].split()) <= 11
    for name in ("top_k", "top_p", "random"):
        assert isinstance(clm.generate(tf.constant(["a bird"]), max_length=10, sampler=name)[0],
                          str)


def test_held_out_samples_for_the_card_and_the_demo(trained_clm, sentences):
    from keras_ssl.modalities import text

    clm, _, _ = trained_clm
    samples = text.held_out_samples(clm, sentences, count=2, words=3, max_length=16)
    assert [prompt for prompt, _ in samples] == [" ".join(s.split()[:3])
                                                  for s in sentences[:2]]
    assert all(generated.startswith(prompt) for prompt, generated in samples)
    # A prompt that leaves no room to generate is left out.
    long_text = " ".join(["the cat sat on the mat"] * 4)
    assert text.held_out_samples(clm, [long_text], count=1, words=30, max_length=16) == []
    run = {"config": {"method": "clm", "seed": 0}, "model": clm,
           "data": {"held_out": list(sentences)}}
    lines = text.TEXT.demo_lines(run)
    assert lines[0].startswith("Generated from held-out prompts") and len(lines) == 4
    assert text.TEXT.demo_lines(dict(run, config={"method": "mlm", "seed": 0})) == []


def test_fill_mask_of_both_language_models(trained_clm, make_mlm):
    clm, _, _ = trained_clm
    candidates = clm.fill_mask(["the cat sat on the [MASK]"], top_k=3)
    assert len(candidates) == 1 and len(candidates[0]) == 3
    tokens = [token for token, _ in candidates[0]]
    scores = [score for _, score in candidates[0]]
    first_piece = clm.tokenizer.id_to_token(int(clm.tokenizer(["mat"])[0][0]))
    assert tokens[0] == first_piece and scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 1 for s in scores)
    two = clm.fill_mask(["the [MASK] sat on the [MASK]"], top_k=2)[0]
    assert len(two) == 2 and all(len(c) == 2 for c in two)

    mlm = make_mlm()
    filled = mlm.fill_mask(np.array(["the [MASK] sat", "a [MASK] and a [MASK] ran"]), top_k=4)
    assert len(filled[0]) == 4 and isinstance(filled[0][0][0], str)
    assert len(filled[1]) == 2 and len(filled[1][1]) == 4
    total = sum(p for _, p in mlm.fill_mask(["the [MASK]"], top_k=10_000)[0])
    np.testing.assert_allclose(total, 1.0, atol=1e-4)  # capped at the vocabulary
    with pytest.raises(ValueError, match=r"no \[MASK\]"):
        mlm.fill_mask(["the cat sat"])
    with pytest.raises(ValueError, match="top_k"):
        mlm.fill_mask(["the [MASK]"], top_k=0)


def test_save_load_export_and_classifier(trained_clm, sentences, tmp_path):
    clm, _, _ = trained_clm
    texts = tf.constant(sentences[:4])
    revived = run_model_saving_test(clm, texts, tmp_path)
    assert revived.generate(["the cat sat"], max_length=16, sampler="greedy") == \
        clm.generate(["the cat sat"], max_length=16, sampler="greedy")
    path = export_text_encoder(clm, str(tmp_path / "gpt_encoder"))
    serve = tf.saved_model.load(path).signatures["serving_default"]
    out = serve(texts)
    np.testing.assert_allclose(out["pooled_output"].numpy(), clm(texts).numpy(), atol=1e-5)
    assert out["sequence_output"].shape == (4, 16, 32)
    labels = np.array([int("cat" in t) for t in sentences])
    clf = keras_ssl.evaluation.text_classifier(clm, num_classes=2, learning_rate=3e-3)
    history = clf.fit(np.array(sentences), labels, epochs=6, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_string_inputs_in_every_form(make_mlm, sentences, tmp_path):
    mlm = make_mlm()
    expected = mlm.predict(tf.constant(sentences[:3]), verbose=0)
    for form in (sentences[:3], np.array(sentences[:3]), np.array(sentences[:3], dtype=object),
                 np.array(sentences[:3])[:, None]):
        np.testing.assert_allclose(mlm.predict(form, verbose=0), expected, atol=1e-6)
    mlm.compile(optimizer="auto")
    assert np.isfinite(mlm.fit(np.array(sentences), batch_size=12, epochs=1,
                               verbose=0).history["loss"][0])
    clf = keras_ssl.evaluation.text_classifier(mlm, num_classes=2)
    labels = np.array([int("cat" in t) for t in sentences])
    clf.fit(np.array(sentences), labels, epochs=1, batch_size=12, verbose=0)
    clf.fit(list(sentences), labels, epochs=1, batch_size=12, verbose=0)
    assert clf.predict(np.array(sentences[:2]), verbose=0).shape == (2, 2)
    assert np.isfinite(clf.evaluate(np.array(sentences), labels, verbose=0)[0])
    with pytest.raises(TypeError, match="strings"):
        mlm.predict(np.array([1.0, 2.0]), verbose=0)
    with pytest.raises(TypeError, match="`texts` must .*single string"):
        mlm.embed("the cat")
    with pytest.raises(TypeError, match="only strings"):
        keras_ssl.evaluation.as_text_dataset(["a", 3], [0, 1])


def test_errors_name_the_argument(tokenizer, trained_clm):
    CLM = keras_ssl.methods.CausalLanguageModel
    gpt = keras_ssl.backbones.GPTTiny(tokenizer.vocabulary_size(), max_sequence_length=16,
                                      hidden_dim=16, intermediate_dim=16)
    with pytest.raises(ValueError, match="`sequence_length` must be at least 8"):
        CLM(gpt, tokenizer, sequence_length=4)
    with pytest.raises(ValueError, match="`pooling`"):
        CLM(gpt, tokenizer, sequence_length=16, pooling="cls")
    with pytest.raises(TypeError, match="GPT2Backbone"):
        CLM(keras_ssl.backbones.BertTiny(tokenizer.vocabulary_size(), 16), tokenizer,
            sequence_length=16)
    with pytest.raises(TypeError, match="BertBackbone"):
        keras_ssl.methods.MaskedLanguageModel(gpt, tokenizer, sequence_length=16)
    with pytest.raises(ValueError, match="`sequence_length` must be at least 8"):
        keras_ssl.methods.MaskedLanguageModel(
            keras_ssl.backbones.BertTiny(tokenizer.vocabulary_size(), 16), tokenizer,
            sequence_length=5)
    with pytest.raises(TypeError, match="Unknown GPT2Backbone"):
        keras_ssl.backbones.GPTTiny(50, num_segments=2)
    clm, _, _ = trained_clm
    with pytest.raises(ValueError, match=r"`prompts`\[1\] is .* tokens .*`max_length` \(6\)"):
        clm.generate(["the", "the cat sat on the mat"], max_length=6)
    with pytest.raises(ValueError, match="max_length"):
        clm.generate(["the"], max_length=100)
    with pytest.raises(ValueError, match="Unknown `sampler` 'nucleus'"):
        clm.generate(["the"], max_length=8, sampler="nucleus")
    no_mask = keras_ssl.text.train_wordpiece(
        ["the cat sat"], vocabulary_size=20, reserved_tokens=("[PAD]", "[UNK]", "[CLS]", "[SEP]"))
    small = CLM(keras_ssl.backbones.GPTTiny(no_mask.vocabulary_size(), 16, hidden_dim=8,
                                            intermediate_dim=8), no_mask, sequence_length=16)
    with pytest.raises(ValueError, match=r"fill_mask.*\[MASK\]"):
        small.fill_mask(["the [MASK]"])
