"""The joint-embedding losses against straightforward NumPy references."""

import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import losses
from tests.testing import run_serialization_test


def normalize(z):
    z = np.asarray(z, "float64")
    return z / np.linalg.norm(z, axis=-1, keepdims=True)


def log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def reference_info_nce(q, k, queue, temperature):
    """Per query: -log softmax over [its key, negatives] at the positive."""
    q, k = normalize(q), normalize(k)
    losses_, correct = [], []
    for i in range(len(q)):
        if queue is None:
            candidates = k  # the positive is row i
            target = i
        else:
            candidates = np.concatenate([k[i:i + 1], normalize(queue)], axis=0)
            target = 0
        logits = candidates @ q[i] / temperature
        losses_.append(-log_softmax(logits)[target])
        correct.append(float(np.argmax(logits) == target))
    return np.array(losses_), np.array(correct)


def reference_barlow(z_a, z_b, lam, eps=1e-5):
    def standardize(z):
        z = np.asarray(z, "float64")
        return (z - z.mean(0)) / np.sqrt(z.var(0) + eps)

    c = standardize(z_a).T @ standardize(z_b) / len(z_a)
    on = sum((1 - c[i, i]) ** 2 for i in range(len(c)))
    off = sum(c[i, j] ** 2 for i in range(len(c)) for j in range(len(c)) if i != j)
    return on + lam * off


def reference_vicreg(z_a, z_b, eps=1e-4):
    z_a, z_b = np.asarray(z_a, "float64"), np.asarray(z_b, "float64")
    n, d = z_a.shape
    invariance = np.mean((z_a - z_b) ** 2)

    def variance(z):
        return np.mean(np.maximum(0, 1 - np.sqrt(z.var(0, ddof=1) + eps)))

    def covariance(z):
        cov = np.cov(z, rowvar=False)
        return (np.sum(cov ** 2) - np.sum(np.diag(cov) ** 2)) / d

    return (invariance, (variance(z_a) + variance(z_b)) / 2,
            covariance(z_a) + covariance(z_b))


def reference_dino(students, teachers, center, ts, tt):
    total, pairs = 0.0, 0
    for i, t in enumerate(teachers):
        p = np.exp(log_softmax((np.asarray(t, "float64") - center) / tt))
        for j, s in enumerate(students):
            if i == j:
                continue
            total += np.mean(-(p * log_softmax(np.asarray(s, "float64") / ts)).sum(-1))
            pairs += 1
    return total / pairs


@pytest.mark.parametrize("n,dim,queue_size", [(2, 4, None), (8, 16, None), (5, 8, 12),
                                              (16, 3, 32)])
@pytest.mark.parametrize("temperature", [0.07, 0.2, 1.0])
def test_info_nce_matches_reference(n, dim, queue_size, temperature):
    rng = np.random.default_rng(n + dim)
    q = rng.normal(size=(n, dim)).astype("float32")
    k = (q + 0.7 * rng.normal(size=(n, dim))).astype("float32")
    queue = None if queue_size is None else rng.normal(size=(queue_size, dim)).astype("float32")
    loss, accuracy = losses.info_nce(q, k, queue, temperature)
    ref_loss, ref_correct = reference_info_nce(q, k, queue, temperature)
    np.testing.assert_allclose(loss.numpy(), ref_loss, rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(accuracy.numpy(), ref_correct)
    with pytest.raises(ValueError, match="temperature"):
        losses.info_nce(q, k, temperature=0)


@pytest.mark.parametrize("n,dim", [(1, 3), (7, 16)])
def test_negative_cosine_matches_reference(n, dim):
    rng = np.random.default_rng(dim)
    p, z = rng.normal(size=(2, n, dim)).astype("float32")
    expected = -np.sum(normalize(p) * normalize(z), axis=-1)
    np.testing.assert_allclose(losses.negative_cosine(p, z).numpy(), expected, atol=1e-6)
    loss = losses.NegativeCosineSimilarity()
    np.testing.assert_allclose(float(loss(z, p)), expected.mean(), atol=1e-6)
    run_serialization_test(loss)


@pytest.mark.parametrize("n,dim", [(2, 2), (16, 8), (33, 5)])
@pytest.mark.parametrize("lam", [0.0, 5e-3, 0.5])
def test_barlow_twins_matches_reference(n, dim, lam):
    rng = np.random.default_rng(n * dim)
    z_a = rng.normal(size=(n, dim)).astype("float32")
    z_b = (z_a + rng.normal(size=(n, dim))).astype("float32")
    value = float(losses.barlow_twins(z_a, z_b, lam))
    np.testing.assert_allclose(value, reference_barlow(z_a, z_b, lam), rtol=1e-4, atol=1e-4)


def test_barlow_twins_is_zero_for_identical_decorrelated_views():
    # Orthogonal columns with zero mean: C is the identity, the loss vanishes.
    z = np.linalg.qr(np.random.default_rng(0).normal(size=(64, 4)))[0]
    z = (z - z.mean(0)).astype("float32")
    assert float(losses.barlow_twins(z, z)) < float(losses.barlow_twins(z, z[::-1]))
    assert float(losses.barlow_twins(z, z)) < 0.05
    loss = losses.BarlowTwinsLoss(redundancy_weight=0.01)
    assert run_serialization_test(loss).redundancy_weight == 0.01


@pytest.mark.parametrize("n,dim", [(2, 3), (16, 8), (40, 32)])
def test_vicreg_terms_match_reference(n, dim):
    rng = np.random.default_rng(n + 7 * dim)
    z_a = (0.3 * rng.normal(size=(n, dim))).astype("float32")
    z_b = (z_a + 0.1 * rng.normal(size=(n, dim))).astype("float32")
    terms = [float(t) for t in losses.vicreg_terms(z_a, z_b)]
    np.testing.assert_allclose(terms, reference_vicreg(z_a, z_b), rtol=1e-4, atol=1e-5)
    invariance, variance, covariance = reference_vicreg(z_a, z_b)
    total = 25 * invariance + 25 * variance + covariance
    np.testing.assert_allclose(float(losses.vicreg(z_a, z_b)), total, rtol=1e-4)
    loss = losses.VICRegLoss(variance_weight=10.0)
    revived = run_serialization_test(loss)
    assert revived.variance_weight == 10.0


@pytest.mark.parametrize("students,teachers", [(2, 2), (5, 2), (3, 1)])
@pytest.mark.parametrize("tt", [0.04, 0.07])
def test_dino_loss_matches_reference(students, teachers, tt):
    rng = np.random.default_rng(students * 10 + teachers)
    s = [rng.normal(size=(6, 10)).astype("float32") for _ in range(students)]
    t = [rng.normal(size=(6, 10)).astype("float32") for _ in range(teachers)]
    center = rng.normal(size=(10,)).astype("float32")
    value = float(losses.dino_loss(s, t, center, 0.1, tt))
    np.testing.assert_allclose(value, reference_dino(s, t, center, 0.1, tt), rtol=1e-4)


def test_dino_loss_gradient_reaches_the_student_only():
    s = [tf.Variable(np.ones((2, 4), "float32")) for _ in range(2)]
    t = [tf.Variable(np.arange(8, dtype="float32").reshape(2, 4)) for _ in range(2)]
    with tf.GradientTape() as tape:
        loss = losses.dino_loss(s, t, np.zeros(4, "float32"))
    grads = tape.gradient(loss, s + t)
    assert all(g is not None for g in grads[:2]) and all(g is None for g in grads[2:])
    with pytest.raises(ValueError, match="at least 1 teacher and 2 student"):
        losses.dino_loss(s[:1], t, np.zeros(4, "float32"))


def test_batch_statistics_losses_reject_a_batch_of_one():
    z = np.ones((1, 4), "float32")
    with pytest.raises(ValueError, match="at least 2 samples"):
        losses.barlow_twins(z, z)
    with pytest.raises(ValueError, match="at least 2 samples"):
        losses.vicreg(z, z)
