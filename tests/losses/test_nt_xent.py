import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.losses import NTXentLoss
from keras_ssl.losses import nt_xent
from tests.testing import run_serialization_test


def reference_nt_xent(z_a, z_b, temperature):
    """Straightforward NumPy NT-Xent over the 2N views (SimCLR eq. 1)."""
    z = np.concatenate([z_a, z_b], axis=0).astype("float64")
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z_a)
    sim = z @ z.T / temperature
    losses, correct = [], []
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        others = [k for k in range(2 * n) if k != i]
        logits = sim[i, others]
        log_den = np.log(np.sum(np.exp(logits - logits.max()))) + logits.max()
        losses.append(log_den - sim[i, j])
        correct.append(others[int(np.argmax(logits))] == j)
    losses = np.array(losses)
    correct = np.array(correct, dtype="float64")
    return (losses[:n] + losses[n:]) / 2, (correct[:n] + correct[n:]) / 2


@pytest.mark.parametrize("n", [2, 3, 8, 17])
@pytest.mark.parametrize("dim", [1, 4, 32])
@pytest.mark.parametrize("temperature", [0.05, 0.1, 0.5, 1.0])
def test_matches_numpy_reference(n, dim, temperature):
    rng = np.random.default_rng(n * 100 + dim)
    z_a = rng.normal(size=(n, dim)).astype("float32")
    z_b = (z_a + 0.5 * rng.normal(size=(n, dim))).astype("float32")
    loss, acc = nt_xent(z_a, z_b, temperature=temperature)
    ref_loss, ref_acc = reference_nt_xent(z_a, z_b, temperature)
    np.testing.assert_allclose(loss.numpy(), ref_loss, rtol=2e-4, atol=2e-4)
    if dim > 1:  # ties make argmax ambiguous for 1-d embeddings
        np.testing.assert_allclose(acc.numpy(), ref_acc)


def test_loss_is_symmetric_and_lower_for_matching_pairs():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(16, 8)).astype("float32")
    other = rng.normal(size=(16, 8)).astype("float32")
    loss = NTXentLoss(temperature=0.2)
    np.testing.assert_allclose(float(loss(z, other)), float(loss(other, z)), rtol=1e-6)
    assert float(loss(z, z)) < float(loss(z, other))
    _, acc = nt_xent(z, z, temperature=0.2)
    assert float(tf.reduce_mean(acc)) == 1.0


def test_gradients_are_finite_with_identical_views():
    z = tf.Variable(np.random.default_rng(1).normal(size=(4, 6)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(nt_xent(z, z, temperature=0.1)[0])
    grad = tape.gradient(loss, z)
    assert np.all(np.isfinite(grad.numpy()))


def test_bad_temperature():
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(temperature=0.0)
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(np.ones((2, 2)), np.ones((2, 2)), temperature=-1.0)


def test_serialization():
    loss = NTXentLoss(temperature=0.3, gather_across_replicas=False)
    revived = run_serialization_test(loss)
    assert revived.temperature == 0.3
    assert revived.gather_across_replicas is False
    assert isinstance(keras.losses.get(keras.losses.serialize(loss)), NTXentLoss)
