"""Heads, the momentum teacher and multi-crop."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.layers import DINOHead
from keras_ssl.layers import MomentumTeacher
from keras_ssl.layers import MultiCrop
from keras_ssl.layers import ProjectionHead
from keras_ssl.layers import SimCLRProjectionHead
from keras_ssl.layers.momentum_teacher import cosine_momentum
from tests.testing import run_serialization_test
from tests.testing import structured_images


def features(n=8, dim=12, seed=0):
    return np.random.default_rng(seed).normal(size=(n, dim)).astype("float32")


@pytest.mark.parametrize("kwargs,weights", [
    ({"num_layers": 1}, 2),  # kernel and bias
    ({"num_layers": 2}, 1 + 4 + 2),  # kernel, BN (4), kernel and bias
    ({"num_layers": 2, "batch_norm": False}, 2 + 2),
    ({"num_layers": 3, "output_batch_norm": True}, 1 + 4 + 1 + 4 + 1 + 2),
])
def test_projection_head_layouts(kwargs, weights):
    head = ProjectionHead(output_dim=6, hidden_dim=10, **kwargs)
    out = head(features())
    assert tuple(out.shape) == (8, 6)
    # Dense layers followed by a batch norm have no bias; the output batch
    # norm has no scale and offset (moving mean and variance only).
    assert len(head.weights) == weights
    revived = run_serialization_test(head)
    assert revived.get_config() == head.get_config()
    inputs = keras.Input((12,))
    assert tuple(head(inputs).shape) == (None, 6)


def test_simclr_head_is_a_projection_head_with_output_batch_norm():
    head = SimCLRProjectionHead(output_dim=4, hidden_dim=8)
    assert isinstance(head, ProjectionHead) and head.output_batch_norm
    out = head(features(), training=True).numpy()
    # The output batch norm leaves each dimension at zero mean over the batch.
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-5)
    assert run_serialization_test(head).output_batch_norm


def test_projection_head_follows_the_mixed_precision_policy():
    head = ProjectionHead(output_dim=4, hidden_dim=8, dtype="mixed_float16")
    out = head(features())
    assert out.dtype.name == "float16"
    with pytest.raises(ValueError, match="num_layers"):
        ProjectionHead(num_layers=0)


def test_dino_head_logits_are_cosines_to_prototypes():
    head = DINOHead(output_dim=32, hidden_dim=16, bottleneck_dim=8)
    x = features()
    logits = head(x).numpy()
    assert logits.shape == (8, 32)
    assert np.abs(logits).max() <= 1.0 + 1e-5  # unit vectors times unit columns
    embedded = head.embed(x).numpy()
    np.testing.assert_allclose(np.linalg.norm(embedded, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(head.logits(head.embed(x)).numpy(), logits, atol=1e-6)
    revived = run_serialization_test(head)
    assert revived.bottleneck_dim == 8


def test_momentum_teacher_copies_follows_and_is_never_trained():
    student = ProjectionHead(output_dim=4, hidden_dim=8, name="student")
    student.build((None, 12))
    teacher = MomentumTeacher.from_student([student])
    x = features()
    np.testing.assert_allclose(teacher(x).numpy(), student(x).numpy(), atol=1e-6)
    assert teacher.trainable_weights == [] and len(teacher.non_trainable_weights) > 0
    teacher.trainable = True  # re-enabling keeps its variables out of optimizers
    assert teacher.trainable_weights == []
    before = [w.numpy().copy() for w in teacher.weights]
    for w in student.trainable_weights:
        w.assign(w + 1.0)
    teacher.update([student], 0.9)
    pairs = teacher.parameter_pairs([student])
    for t, s in pairs:
        old = before[[id(w) for w in teacher.weights].index(id(t))]
        np.testing.assert_allclose(t.numpy(), 0.9 * old + 0.1 * s.numpy(), atol=1e-6)
    teacher.update([student], 1.0)  # momentum 1: frozen
    for (t, _), value in zip(pairs, [t.numpy() for t, _ in pairs]):
        np.testing.assert_array_equal(t.numpy(), value)
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.reduce_sum(teacher(x))
    assert tape.gradient(out, x) is None  # the teacher's output carries no gradient
    revived = run_serialization_test(teacher)
    assert len(revived.teacher_layers) == 1


def test_cosine_momentum_schedule():
    values = [float(cosine_momentum(0.99, step, 100)) for step in (0, 50, 100, 150)]
    np.testing.assert_allclose(values, [0.99, 0.995, 1.0, 1.0], atol=1e-6)
    assert float(cosine_momentum(0.99, 10, 0)) == pytest.approx(0.99)  # unknown length


def test_multi_crop_sizes_independence_and_errors():
    images = structured_images(4, 28, 1)
    crops = MultiCrop(28, 12, global_crops=2, local_crops=3, channels=1, seed=0)
    views = crops(images)
    assert [tuple(v.shape) for v in views] == [(4, 28, 28, 1)] * 2 + [(4, 12, 12, 1)] * 3
    assert np.abs(views[0].numpy() - views[1].numpy()).max(axis=(1, 2, 3)).min() > 0
    same = np.repeat(images[:1], 6, axis=0)
    local = crops(same)[2].numpy()
    assert max(np.abs(local[0] - local[i]).max() for i in range(1, 6)) > 0  # per sample
    ds = tf.data.Dataset.from_tensors(images).map(lambda x: crops(x))
    assert len(next(iter(ds))) == 5
    symbolic = crops(keras.Input((28, 28, 1)))
    assert [tuple(v.shape) for v in symbolic][-1] == (None, 12, 12, 1)
    revived = run_serialization_test(crops)
    assert revived.num_crops == 5
    with pytest.raises(ValueError, match="local_size"):
        MultiCrop(16, 20, channels=1)
    with pytest.raises(ValueError, match="global_crops"):
        MultiCrop(16, 8, global_crops=0, channels=1)
    with pytest.raises(ValueError, match="local_scale"):
        MultiCrop(16, 8, local_scale=(0.5, 0.2), channels=1)
    default = MultiCrop.for_input_shape((28, 28, 1), local_crops=4)
    assert default.local_size == (12, 12) and default.num_crops == 6
