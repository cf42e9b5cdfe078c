"""TinyBERT distillation: layer-by-layer outputs, the losses against NumPy,
a frozen teacher and a learning student, padding masked out, the routing
from Distillation, errors, serialization and fine-tuning the student."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from keras_ssl.losses.distillation import attention_mse
from keras_ssl.losses.distillation import hidden_state_mse
from keras_ssl.methods.tinybert_distillation import TinyBERTDistillation
from keras_ssl.methods.tinybert_distillation import bert_layer_outputs
from keras_ssl.methods.tinybert_distillation import layer_mapping

SEQUENCE_LENGTH = 8
TEXTS = ["the cat sat", "a dog ran far", "the sun rose", "a bird sang",
         "the cat ran", "a dog sat on a mat"]


@pytest.fixture(scope="module")
def small_tokenizer():
    return keras_ssl.text.train_wordpiece(TEXTS * 4, vocabulary_size=40)


def bert(tokenizer, num_layers=2, hidden_dim=16, num_heads=2, max_sequence_length=8,
         vocabulary_size=None):
    return keras_ssl.backbones.BertTiny(
        vocabulary_size or tokenizer.vocabulary_size(), max_sequence_length=max_sequence_length,
        num_layers=num_layers, hidden_dim=hidden_dim, intermediate_dim=2 * hidden_dim,
        num_heads=num_heads, dropout=0.0)


def teacher_mlm(tokenizer):
    return keras_ssl.methods.MaskedLanguageModel(bert(tokenizer), tokenizer,
                                                 sequence_length=SEQUENCE_LENGTH)


def make(tokenizer, **kwargs):
    student = bert(tokenizer, num_layers=1, hidden_dim=8)
    return TinyBERTDistillation(teacher_mlm(tokenizer), student, **kwargs)


def weights_of(model):
    return [w.copy() for w in model.get_weights()]


@pytest.fixture(scope="module")
def trained(small_tokenizer):
    """A distillation fitted on one fixed batch, with the weights before it."""
    keras.utils.set_random_seed(0)
    model = make(small_tokenizer)
    before = {"teacher": weights_of(model.teacher), "student": weights_of(model.student)}
    model.compile(optimizer=keras.optimizers.AdamW(3e-3))
    history = model.fit(np.array(TEXTS), batch_size=len(TEXTS), epochs=15, shuffle=False,
                        verbose=0).history
    return model, before, history


def test_layer_outputs_are_the_backbones(small_tokenizer):
    backbone = bert(small_tokenizer, num_layers=2)
    token_ids = tf.constant([[2, 5, 6, 3, 0, 0, 0, 0], [2, 7, 8, 9, 10, 3, 0, 0]])
    padding_mask = token_ids != 0
    expected = backbone({"token_ids": token_ids, "padding_mask": padding_mask,
                         "segment_ids": tf.zeros_like(token_ids)})
    outputs = bert_layer_outputs(backbone, token_ids, padding_mask, attention=True)
    np.testing.assert_allclose(outputs["hidden_states"][-1], expected["sequence_output"],
                               atol=1e-5)
    np.testing.assert_allclose(outputs["pooled_output"], expected["pooled_output"], atol=1e-5)
    assert tuple(outputs["embeddings"].shape) == (2, 8, 16)
    logits = outputs["attention_logits"]
    assert len(logits) == 2 and tuple(logits[0].shape) == (2, 2, 8, 8)
    # Their softmax over the real keys is the attention each layer applies.
    inputs = [outputs["embeddings"]] + outputs["hidden_states"][:-1]
    for i, (x, layer_logits) in enumerate(zip(inputs, logits)):
        _, maps = backbone.get_layer(f"transformer_layer_{i}")(
            x, padding_mask=padding_mask, return_attention_scores=True)
        keys = tf.cast(padding_mask, "float32")[:, None, None, :]
        expected_maps = tf.nn.softmax(layer_logits + (1.0 - keys) * -1e9, axis=-1) * keys
        np.testing.assert_allclose(maps, expected_maps, atol=1e-5)
    assert layer_mapping(1, 2) == (1,) and layer_mapping(3, 6) == (1, 3, 5)
    assert layer_mapping(2, 3) == (0, 2) and layer_mapping(2, 2) == (0, 1)


@pytest.mark.parametrize("shape", [(2, 5, 3), (4, 8, 16)])
def test_losses_match_numpy(shape):
    rng = np.random.default_rng(0)
    n, length, dim = shape
    mask = rng.random((n, length)) < 0.7
    mask[:, 0] = True
    student, teacher = rng.normal(size=(2, n, length, dim)).astype("float32")
    weights = mask.astype("float64")
    squared = ((student - teacher) ** 2).mean(-1)
    np.testing.assert_allclose(hidden_state_mse(student, teacher, mask),
                               (squared * weights).sum() / weights.sum(), rtol=1e-5)
    heads = 2
    a, b = rng.random((2, n, heads, length, length)).astype("float32")
    pairs = weights[:, None, :, None] * weights[:, None, None, :]
    reference = (((a - b) ** 2) * pairs).sum() / (pairs.sum() * heads)
    np.testing.assert_allclose(attention_mse(a, b, mask), reference, rtol=1e-5)


def test_loss_falls_teacher_frozen_student_learns(trained):
    model, before, history = trained
    assert sorted(history) == ["attention_loss", "embedding_loss", "hidden_loss", "loss"]
    losses = history["loss"]
    assert np.all(np.isfinite(losses))
    assert np.mean(losses[-2:]) < 0.7 * np.mean(losses[:2]), losses
    assert history["hidden_loss"][-1] < history["hidden_loss"][0]
    for old, new in zip(before["teacher"], model.teacher.get_weights()):
        np.testing.assert_array_equal(old, new)
    changed = [not np.array_equal(old, new)
               for old, new in zip(before["student"], model.student.get_weights())]
    assert sum(changed) > len(changed) // 2
    teacher_ids = {id(v) for v in model.teacher.weights}
    assert not teacher_ids & {id(v) for v in model.trainable_variables}
    assert teacher_ids <= {id(v) for v in model.unguarded_state()}
    assert model.teacher.trainable is False and model.student.trainable


def test_padding_is_masked(small_tokenizer):
    keras.utils.set_random_seed(1)
    model = make(small_tokenizer)
    token_ids, padding_mask = model.pack(tf.constant(["the cat", "a dog ran far"]))
    assert not bool(tf.reduce_all(padding_mask))
    # Other tokens at the padded positions: their hidden states change, the
    # real tokens' (which never attend to them) and the losses do not.
    other = tf.where(padding_mask, token_ids, 7)
    first = model.distillation_losses(token_ids, padding_mask, training=False)
    second = model.distillation_losses(other, padding_mask, training=False)
    for key in ("embedding", "hidden", "attention"):
        np.testing.assert_allclose(first[key], second[key], rtol=1e-5, atol=1e-7)
    states = [bert_layer_outputs(model.student, ids, padding_mask)["hidden_states"][-1]
              for ids in (token_ids, other)]
    padded = ~padding_mask.numpy()
    assert np.abs(states[0].numpy()[padded] - states[1].numpy()[padded]).max() > 1e-3
    np.testing.assert_allclose(states[0].numpy()[~padded], states[1].numpy()[~padded],
                               atol=1e-5)


def test_distillation_routes_to_tinybert(small_tokenizer):
    mlm = teacher_mlm(small_tokenizer)
    student = bert(small_tokenizer, num_layers=1, num_heads=1, hidden_dim=8)
    model = keras_ssl.methods.Distillation(teacher=mlm, student=student, mode="tinybert",
                                           attention_weight=0)
    assert type(model) is TinyBERTDistillation
    assert model.teacher is mlm and model.student is student and model.tokenizer is mlm.tokenizer
    assert [m.name for m in model.metrics] == ["loss", "embedding_loss", "hidden_loss"]
    assert "attention" not in model.distillation_losses(*model.pack(tf.constant(["a cat"])))
    with pytest.raises(ValueError, match="tinybert"):
        keras_ssl.methods.Distillation(teacher=mlm, student=student, mode="tiny")


def test_errors(small_tokenizer):
    mlm = teacher_mlm(small_tokenizer)
    student = bert(small_tokenizer, num_layers=1)
    with pytest.raises(TypeError, match="`teacher`"):
        TinyBERTDistillation(mlm.backbone, student)
    gpt = keras_ssl.methods.CausalLanguageModel(
        keras_ssl.backbones.GPTTiny(small_tokenizer.vocabulary_size(), max_sequence_length=8,
                                    hidden_dim=16, intermediate_dim=16),
        small_tokenizer, sequence_length=8)
    with pytest.raises(TypeError, match="`teacher` must have a keras_hub.models.BertBackbone"):
        TinyBERTDistillation(gpt, student)
    with pytest.raises(TypeError, match="`student`"):
        TinyBERTDistillation(mlm, gpt.backbone)
    with pytest.raises(ValueError, match="`student` is the teacher's backbone"):
        TinyBERTDistillation(mlm, mlm.backbone)
    with pytest.raises(ValueError, match="vocabulary_size"):
        TinyBERTDistillation(mlm, bert(small_tokenizer, num_layers=1, vocabulary_size=99))
    with pytest.raises(ValueError, match="max_sequence_length 4, smaller than the teacher's"):
        TinyBERTDistillation(mlm, bert(small_tokenizer, num_layers=1, max_sequence_length=4))
    with pytest.raises(ValueError, match="`sequence_length`"):
        TinyBERTDistillation(mlm, student, sequence_length=16)
    with pytest.raises(ValueError, match="3 layers, more than the teacher's 2"):
        TinyBERTDistillation(mlm, bert(small_tokenizer, num_layers=3))
    with pytest.raises(ValueError, match="attention heads.*attention_weight=0"):
        TinyBERTDistillation(mlm, bert(small_tokenizer, num_layers=1, num_heads=4))
    with pytest.raises(ValueError, match="`attention_weight`"):
        TinyBERTDistillation(mlm, student, attention_weight=-1.0)


def test_keras_round_trip(trained, tmp_path):
    model, _, _ = trained
    config = model.get_config()
    assert "tokenizer" not in config and config["sequence_length"] == SEQUENCE_LENGTH
    path = os.path.join(str(tmp_path), "tinybert.keras")
    model.save(path)
    revived = keras.saving.load_model(path)
    assert type(revived) is TinyBERTDistillation
    assert revived.get_config() == config
    texts = tf.constant(TEXTS[:3])
    np.testing.assert_allclose(revived.predict(texts, verbose=0),
                               model.predict(texts, verbose=0), atol=1e-5)
    for part in ("teacher", "student", "hidden_projection", "embedding_projection"):
        for old, new in zip(getattr(model, part).get_weights(),
                            getattr(revived, part).get_weights()):
            np.testing.assert_array_equal(old, new)
    assert revived.teacher.trainable is False and not revived.teacher.trainable_weights
    assert revived.optimizer is not None


def test_student_fine_tunes_as_a_text_method(trained):
    model, _, _ = trained
    clf = keras_ssl.evaluation.text_classifier(model, num_classes=2)
    history = clf.fit(np.array(TEXTS), np.array([0, 1, 0, 1, 0, 1]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert clf.predict(TEXTS[:2], verbose=0).shape == (2, 2)
    # The classifier copies the student (hidden 8), not the teacher (16).
    assert model.embed(TEXTS[:2]).shape == (2, 8)
