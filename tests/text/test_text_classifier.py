import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.evaluation.text_classifier import as_text_dataset, text_classifier, text_probe
from tests.testing import run_model_saving_test


def labeled(sentences):
    texts = np.array(sentences[:36] + ["a cat", "the cat", "a dog", "the dog"], dtype=object)
    labels = np.array([int("cat" in t) for t in texts])
    return texts, labels


def test_fine_tune_fits_predicts_and_leaves_mlm_alone(make_mlm, sentences, tmp_path):
    keras.utils.set_random_seed(0)
    mlm = make_mlm()
    texts, labels = labeled(sentences)
    before = [w.numpy().copy() for w in mlm.backbone.weights]
    clf = text_classifier(mlm, num_classes=2, learning_rate=3e-3)
    history = clf.fit(texts, labels, epochs=8, batch_size=8, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert history.history["accuracy"][-1] > 0.8
    probabilities = clf.predict(tf.constant(list(texts[:5])), verbose=0)
    assert probabilities.shape == (5, 2)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    for a, b in zip(before, mlm.backbone.weights):
        np.testing.assert_array_equal(a, b.numpy())
    run_model_saving_test(clf, tf.constant(list(texts[:4])), tmp_path)
    ds = as_text_dataset(list(texts), labels, batch_size=16, shuffle=True)
    assert np.isfinite(clf.evaluate(ds, verbose=0, return_dict=True)["loss"])


def test_probe_trains_only_the_head(make_mlm, sentences):
    mlm = make_mlm()
    texts, labels = labeled(sentences)
    probe = text_probe(mlm, num_classes=3)
    assert len(probe.trainable_weights) == 2
    backbone = [layer for layer in probe.layers if layer.name.startswith("bert")][0]
    frozen = [w.numpy().copy() for w in backbone.weights]
    probe.fit(texts, labels, epochs=1, batch_size=8, verbose=0)
    for a, b in zip(frozen, backbone.weights):
        np.testing.assert_array_equal(a, b.numpy())
    assert text_classifier(mlm, 2, freeze_backbone=True).optimizer.learning_rate.numpy() == \
        pytest.approx(1e-3)
    assert text_classifier(mlm, 2).optimizer.learning_rate.numpy() == pytest.approx(5e-5)


def test_errors(make_mlm):
    mlm = make_mlm()
    with pytest.raises(ValueError, match="num_classes"):
        text_classifier(mlm, num_classes=1)
    with pytest.raises(TypeError, match="text method|MaskedLanguageModel"):
        text_classifier(mlm.backbone, num_classes=2)
    with pytest.raises(ValueError, match="learning_rate"):
        text_classifier(mlm, num_classes=2, learning_rate=0)
    with pytest.raises(ValueError, match="differ in length"):
        as_text_dataset(["a", "b"], [0])
