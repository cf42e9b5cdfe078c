"""SimCSE: the contrastive loss learns, dropout views, word augmentation,
serialization, export, fine-tuning, string inputs and errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from keras_ssl.export_text import export_text_encoder
from keras_ssl.methods.simcse import whole_word_vocabulary
from tests.testing import run_model_saving_test


def tiny_bert(tokenizer, dropout=0.1, hidden_dim=32):
    return keras_ssl.backbones.BertTiny(
        tokenizer.vocabulary_size(), max_sequence_length=32, hidden_dim=hidden_dim,
        intermediate_dim=2 * hidden_dim, num_heads=2, dropout=dropout,
    )


@pytest.fixture(scope="module")
def trained_simcse(tokenizer, sentences):
    """A tiny SimCSE fitted on the 12 fixture sentences (one batch each epoch
    holds each sentence once: no duplicate is a false negative)."""
    keras.utils.set_random_seed(0)
    simcse = keras_ssl.methods.SimCSE(tiny_bert(tokenizer), tokenizer, sequence_length=16,
                                      pooling="cls")
    simcse.compile(optimizer=keras.optimizers.AdamW(3e-3))
    history = simcse.fit(np.array(sentences), batch_size=12, epochs=30, shuffle=False,
                         verbose=0).history
    return simcse, history


def test_loss_falls_and_contrastive_accuracy_rises(trained_simcse):
    simcse, history = trained_simcse
    assert sorted(history) == ["contrastive_accuracy", "loss"]
    losses, accuracy = history["loss"], history["contrastive_accuracy"]
    # From a random BERT the [CLS] embeddings start alike: chance level first
    # (the reason the default pooling is the mean of the token features).
    assert abs(losses[0] - np.log(12)) < 0.5 and accuracy[0] < 0.3
    assert np.mean(losses[-3:]) < 0.6 * losses[0]
    assert np.mean(accuracy[-3:]) > 0.4


def test_two_dropout_views_differ(trained_simcse, sentences):
    simcse, _ = trained_simcse
    packed = simcse.pack(tf.constant(sentences[:6]))
    first, second = simcse.view_embeddings(packed, training=True)
    assert tuple(first.shape) == tuple(second.shape) == (6, 32)
    assert np.abs(first.numpy() - second.numpy()).max() > 1e-3
    # Without dropout both views are the embedding `call` gives.
    first, second = simcse.view_embeddings(packed, training=False)
    np.testing.assert_allclose(first.numpy(), second.numpy(), atol=1e-6)
    np.testing.assert_allclose(first.numpy(), simcse(tf.constant(sentences[:6])).numpy(),
                               atol=1e-5)
    # Trained, a sentence's two views are closer than two sentences.
    a, b = (tf.math.l2_normalize(v, -1).numpy()
            for v in simcse.view_embeddings(simcse.pack(tf.constant(sentences[:12]))))
    similarity = a @ b.T
    assert np.diag(similarity).mean() > similarity[~np.eye(12, dtype=bool)].mean()


def test_eda_augmentation_runs_and_round_trips(tokenizer, sentences, tmp_path):
    simcse = keras_ssl.methods.SimCSE(tiny_bert(tokenizer, hidden_dim=16), tokenizer,
                                      sequence_length=16, augment="eda", pooling="mean")
    vocabulary = whole_word_vocabulary(tokenizer)
    assert "cat" in vocabulary
    assert not any(w.startswith("##") or w.startswith("[") for w in vocabulary)
    texts = tf.constant(sentences[:12])
    augmented = simcse.augment_texts(texts, training=True).numpy()
    assert list(augmented) != list(texts.numpy())
    assert list(simcse.augment_texts(texts, training=False).numpy()) == list(texts.numpy())
    # Each view is augmented on its own.
    first, second = simcse.view_embeddings(texts, training=True)
    assert np.abs(first.numpy() - second.numpy()).max() > 1e-3
    simcse.compile(optimizer="auto")
    history = simcse.fit(tf.data.Dataset.from_tensor_slices(sentences).batch(12), epochs=2,
                         verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    assert np.isfinite(simcse.evaluate(np.array(sentences), batch_size=12, verbose=0)[0])
    revived = run_model_saving_test(simcse, texts, tmp_path)
    assert revived.augment == "eda" and revived.get_config() == simcse.get_config()
    with pytest.raises(ValueError, match="must be strings"):
        simcse.fit(simcse.pack(texts)[0], batch_size=12, epochs=1, verbose=0)


def test_save_load_export_and_classifier(trained_simcse, sentences, tmp_path):
    simcse, _ = trained_simcse
    texts = tf.constant(sentences[:4])
    revived = run_model_saving_test(simcse, texts, tmp_path)
    assert revived.temperature == 0.05 and revived.augment is None
    assert revived.pooling == "cls"
    assert isinstance(revived.optimizer, keras.optimizers.AdamW)
    path = export_text_encoder(simcse, str(tmp_path / "simcse_encoder"))
    serve = tf.saved_model.load(path).signatures["serving_default"]
    out = serve(texts)
    np.testing.assert_allclose(out["pooled_output"].numpy(), simcse(texts).numpy(), atol=1e-5)
    assert out["sequence_output"].shape == (4, 16, 32)
    labels = np.array([int("cat" in t) for t in sentences])
    clf = keras_ssl.evaluation.text_classifier(simcse, 2, learning_rate=3e-3)
    history = clf.fit(np.array(sentences), labels, epochs=4, batch_size=12, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_string_inputs_in_every_form(trained_simcse, sentences):
    simcse, _ = trained_simcse
    expected = simcse.predict(tf.constant(sentences[:3]), verbose=0)
    for form in (sentences[:3], np.array(sentences[:3]), np.array(sentences[:3], dtype=object),
                 np.array(sentences[:3])[:, None]):
        np.testing.assert_allclose(simcse.predict(form, verbose=0), expected, atol=1e-6)
    np.testing.assert_allclose(simcse.embed(np.array(sentences[:3])), expected, atol=1e-5)
    assert simcse.embed(sentences[:3], pooling="mean").shape == (3, 32)


def test_errors_name_the_argument(tokenizer, sentences):
    SimCSE = keras_ssl.methods.SimCSE
    bert = tiny_bert(tokenizer, hidden_dim=16)
    assert SimCSE(bert, tokenizer, sequence_length=16).pooling == "mean"  # the default
    with pytest.raises(ValueError, match="`temperature` must be > 0"):
        SimCSE(bert, tokenizer, sequence_length=16, temperature=0)
    with pytest.raises(TypeError, match="`temperature` must be a number"):
        SimCSE(bert, tokenizer, sequence_length=16, temperature="0.05")
    with pytest.raises(ValueError, match=r"Unknown augment 'bt'. Expected one of: None, 'eda'"):
        SimCSE(bert, tokenizer, sequence_length=16, augment="bt")
    with pytest.raises(ValueError, match="`dropout` is 0"):
        SimCSE(tiny_bert(tokenizer, dropout=0.0, hidden_dim=16), tokenizer, sequence_length=16)
    SimCSE(tiny_bert(tokenizer, dropout=0.0, hidden_dim=16), tokenizer, sequence_length=16,
           augment="eda")  # word noise alone makes two views
    gpt = keras_ssl.backbones.GPTTiny(tokenizer.vocabulary_size(), max_sequence_length=16,
                                      hidden_dim=16, intermediate_dim=16)
    with pytest.raises(TypeError, match="BertBackbone"):
        SimCSE(gpt, tokenizer, sequence_length=16)

    simcse = SimCSE(bert, tokenizer, sequence_length=16)
    with pytest.raises(ValueError, match="no token-prediction head.*MaskedLanguageModel"):
        simcse.fill_mask(["the [MASK] sat"])
    simcse.compile(optimizer="auto")
    # A batch of one text has no negative: refused before training...
    with pytest.raises(ValueError, match="at least 2 texts.*batch_size=1"):
        simcse.fit(np.array(sentences), batch_size=1, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="batch_size=1"):
        simcse.fit(np.array(sentences[:1]), epochs=1, verbose=0)
    # ...in the loss for a static batch of one...
    with pytest.raises(ValueError, match="at least 2 texts.*a batch of 1"):
        simcse.compute_ssl_loss(simcse.pack(tf.constant(sentences[:1])))
    # ...and while training when a dataset's last batch holds one text.
    last_of_one = tf.data.Dataset.from_tensor_slices(sentences[:13]).batch(12)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least 2 texts"):
        simcse.fit(last_of_one, epochs=1, verbose=0)
