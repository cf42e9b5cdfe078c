"""Distillation: feature, similarity (SEED) and soft-target modes, the frozen
teacher, the queue, precomputed teacher outputs, errors, saving, export."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from keras_ssl.losses import feature_distillation_loss
from keras_ssl.losses import seed_loss
from keras_ssl.losses import soft_target_loss
from keras_ssl.methods import Distillation
from tests.testing import assert_all_close
from tests.testing import random_images
from tests.testing import run_export_test
from tests.testing import run_model_saving_test
from tests.testing import structured_images

SIZE = 16
BATCH = 8
CLASSES = 5


def convnet(filters, name, size=SIZE, channels=1):
    return keras_ssl.backbones.ConvNet(input_shape=(size, size, channels), filters=filters,
                                       name=name)


def teacher_encoder():
    keras.utils.set_random_seed(1)
    return convnet((8, 16), "teacher")


def student_encoder():
    keras.utils.set_random_seed(2)
    return convnet((4, 8), "student")


def classifier_teacher():
    """A teacher with a head: images to (N, CLASSES) logits."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((SIZE, SIZE, 1))
    features = convnet((8, 16), "teacher_encoder")(inputs)
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(features), name="classifier")


def build(mode="feature", teacher=None, **kwargs):
    if teacher is None:
        teacher = classifier_teacher() if mode == "logits" else teacher_encoder()
    kwargs.setdefault("augmenter", None)
    kwargs.setdefault("seed", 0)
    if mode == "similarity":
        kwargs.setdefault("queue_size", 16)
    return Distillation(teacher, student_encoder(), mode=mode, **kwargs)


def values(variables):
    return [v.numpy().copy() for v in variables]


# Losses against NumPy ---------------------------------------------------------------


def _normalize(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _log_softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("n,d,k", [(1, 3, 1), (4, 8, 16), (7, 5, 9)])
def test_losses_match_numpy(n, d, k):
    rng = np.random.default_rng(n + d + k)
    s, t = rng.normal(size=(2, n, d)).astype("float32")
    queue = rng.normal(size=(k, d)).astype("float32")
    # SEED: teacher's softmax over [own, queue] at 0.01 against the student's at 0.2.
    zs, zt, zq = _normalize(s), _normalize(t), _normalize(queue)
    teacher_logits = np.concatenate([np.ones((n, 1)), zt @ zq.T], axis=1) / 0.01
    student_logits = np.concatenate([(zs * zt).sum(-1, keepdims=True), zs @ zq.T], 1) / 0.2
    expected = -(np.exp(_log_softmax(teacher_logits)) * _log_softmax(student_logits)).sum(-1)
    loss, agreement = seed_loss(s, t, queue, 0.2, 0.01)
    assert_all_close(loss, expected, atol=1e-4, rtol=1e-4)
    assert_all_close(agreement, teacher_logits.argmax(-1) == student_logits.argmax(-1))
    # Soft targets: KL(p_t || p_s) * T^2 at T = 3.
    log_pt, log_ps = _log_softmax(t / 3.0), _log_softmax(s / 3.0)
    expected = (np.exp(log_pt) * (log_pt - log_ps)).sum(-1) * 9.0
    assert_all_close(soft_target_loss(s, t, 3.0), expected, atol=1e-5)
    assert_all_close(keras_ssl.losses.SoftTargetLoss(3.0)(t, s), expected.mean(), atol=1e-5)
    # Feature regression.
    assert_all_close(feature_distillation_loss(s, t, "cosine"), 1 - (zs * zt).sum(-1), atol=1e-5)
    assert_all_close(feature_distillation_loss(s, t, "mse"), ((s - t) ** 2).mean(-1), atol=1e-5)


def test_losses_are_zero_when_the_student_matches():
    t = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    assert float(np.max(soft_target_loss(t, t))) == pytest.approx(0.0, abs=1e-5)
    assert float(np.max(feature_distillation_loss(2 * t, t))) == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError, match="feature_loss"):
        feature_distillation_loss(t, t, "l1")
    with pytest.raises(ValueError, match="teacher_temperature"):
        seed_loss(t, t, t, teacher_temperature=0)


# Training ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode,kwargs", [
    ("feature", {}),
    ("feature", {"feature_loss": "mse"}),
    ("similarity", {}),
    ("logits", {}),
])
def test_each_mode_learns_and_the_teacher_stays_frozen(mode, kwargs):
    model = build(mode, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    teacher_ids = {id(v) for v in model.teacher.weights}
    assert model.teacher.trainable is False
    assert not teacher_ids & {id(v) for v in model.trainable_variables}
    # The non-finite-step guard restores the student's batch-norm
    # statistics, not the frozen teacher's weights nor the queue.
    guarded = {id(v) for v in model._guarded_state()}
    assert not guarded & (teacher_ids | {id(model.queue)})
    assert {id(v) for v in model.encoder.non_trainable_weights} <= guarded
    teacher_before = values(model.teacher.weights)
    student_before = values(model.encoder.trainable_weights)
    history = model.fit(structured_images(BATCH, SIZE), batch_size=BATCH, epochs=10,
                        shuffle=False, verbose=0).history
    losses = history["loss"]
    assert np.all(np.isfinite(losses)), losses
    # Similarity: the first steps compare against the queue's random rows.
    start = 16 // BATCH if mode == "similarity" else 0
    assert np.mean(losses[-2:]) < np.mean(losses[start:start + 2]), losses
    metric = "cosine_similarity" if mode == "feature" else "teacher_agreement"
    assert set(history) == {"loss", metric}
    for before, after in zip(teacher_before, model.teacher.weights):
        np.testing.assert_array_equal(before, after.numpy(), err_msg=after.path)
    assert any(not np.array_equal(b, a.numpy())
               for b, a in zip(student_before, model.encoder.trainable_weights))


def test_similarity_queue_holds_the_latest_teacher_embeddings():
    model = build("similarity", queue_size=24)
    model.compile(optimizer="auto")
    x = random_images(16, SIZE)
    model.fit(x, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    assert int(model.queue_pointer.numpy()) == 16
    teacher = keras.ops.convert_to_numpy(model.teacher(x.astype("float32"), training=False))
    queue = model.queue.numpy()
    assert_all_close(queue[:16], _normalize(teacher), atol=1e-5)
    assert np.abs(np.linalg.norm(queue[16:], axis=1) - 1).max() > 1e-3  # still random
    model.fit(x, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    assert int(model.queue_pointer.numpy()) == 32 % 24


def test_precomputed_teacher_outputs_give_the_same_step():
    model = build("similarity")
    x = structured_images(BATCH, SIZE)
    start = values(model.weights)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    raw = model.fit(x, batch_size=BATCH, epochs=1, shuffle=False, verbose=0).history
    raw_weights = values(model.weights)
    targets = model.teacher_targets(x, batch_size=BATCH, shuffle=False)
    element = next(iter(targets))
    assert sorted(element) == ["images", "teacher_outputs"]
    np.testing.assert_array_equal(element["images"].numpy(), x)
    # Break the teacher: the precomputed path must not run it.
    kernel = model.teacher.get_layer("conv1").kernel
    kernel.assign(np.full(kernel.shape, np.nan, "float32"))
    teacher_ids = {id(v) for v in model.teacher.weights}
    arrays = {k: v.numpy() for k, v in element.items()}
    for data, kwargs in ((targets, {}), (arrays, {"batch_size": BATCH, "shuffle": False})):
        for variable, value in zip(model.weights, start):
            if id(variable) not in teacher_ids:
                variable.assign(value)
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        history = model.fit(data, epochs=1, verbose=0, **kwargs).history
        assert history["loss"][0] == pytest.approx(raw["loss"][0], rel=1e-5)
        assert history["teacher_agreement"] == raw["teacher_agreement"]
        for variable, expected in zip(model.weights, raw_weights):
            if id(variable) not in teacher_ids:
                assert_all_close(variable.numpy(), expected, atol=1e-5, msg=variable.path)


def test_round_trip_with_default_augmenter_and_export(tmp_path):
    model = build("similarity", augmenter="auto")
    assert isinstance(model.augmenter, keras_ssl.layers.SimCLRAugmenter)
    assert model.augmenter.crop_scale == (0.5, 1.0) and model.augmenter.jitter_rate == 0
    model.compile(optimizer="auto")
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    model.fit(random_images(16, SIZE), batch_size=BATCH, epochs=1, verbose=0)
    images = random_images(4, SIZE, seed=3)
    revived = run_model_saving_test(model, images, tmp_path)
    assert json.loads(json.dumps(revived.get_config())) == json.loads(
        json.dumps(model.get_config()))
    assert revived.teacher.trainable is False and revived.mode == "similarity"
    assert not {id(v) for v in revived.teacher.weights} & {
        id(v) for v in revived.trainable_variables}
    assert_all_close(revived.teacher(images.astype("float32")),
                     model.teacher(images.astype("float32")))
    for name in ("queue", "queue_pointer"):
        np.testing.assert_array_equal(getattr(revived, name).numpy(),
                                      getattr(model, name).numpy())
    revived.compile(optimizer="auto")
    revived.fit(random_images(16, SIZE), batch_size=BATCH, epochs=1, verbose=0)
    run_export_test(model.encoder, images, tmp_path / "student")
    # export_backbone(method) exports the student; teacher=True the teacher.
    assert keras_ssl.export.select_encoder(model) is model.encoder
    assert keras_ssl.export.select_encoder(model, teacher=True) is model.teacher


def test_logits_mode_round_trip(tmp_path):
    model = build("logits", temperature=2.0)
    assert model.head.units == CLASSES
    model.compile(optimizer="auto")
    revived = run_model_saving_test(model, random_images(4, SIZE, seed=3), tmp_path)
    assert revived.temperature == 2.0 and revived.augmenter is None
    x = random_images(4, SIZE, seed=4).astype("float32")
    assert_all_close(revived.teacher(x), model.teacher(x))
    assert_all_close(revived.head(revived.encoder(x)), model.head(model.encoder(x)))


# Errors ----------------------------------------------------------------------------------


def test_bad_arguments_are_refused_in_the_constructor():
    teacher = teacher_encoder()
    with pytest.raises(ValueError, match="mode.*'feature', 'similarity', 'logits', 'tinybert'"):
        build("attention")
    # "tinybert" is the text mode: image encoders are refused, naming the teacher.
    with pytest.raises(TypeError, match="`teacher` must be a pretrained keras_ssl text method"):
        build("tinybert")
    with pytest.raises(ValueError, match="same model"):
        Distillation(teacher, teacher)
    with pytest.raises(ValueError, match=r"input shape is \(16, 16, 1\).*\(24, 24, 1\)"):
        Distillation(teacher, convnet((4,), "s", size=24))
    with pytest.raises(ValueError, match="share"):
        inputs = keras.Input((SIZE, SIZE, 1))
        Distillation(teacher, keras.Model(inputs, keras.layers.Dense(3)(teacher(inputs))))
    inputs = keras.Input((SIZE, SIZE, 1))
    maps = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    for mode in ("feature", "similarity"):
        with pytest.raises(ValueError, match="`teacher` must output a feature vector"):
            build(mode, teacher=maps)
    with pytest.raises(ValueError, match="class logits of shape"):
        build("logits", teacher=maps)
    with pytest.raises(TypeError, match="`teacher` must be a keras.Model"):
        build(teacher=lambda x: x)
    with pytest.raises(ValueError, match="`student` must output a feature vector"):
        Distillation(teacher, maps)
    for name in ("student_temperature", "teacher_temperature", "temperature"):
        for value in (0, -1.0):
            with pytest.raises(ValueError, match=f"`{name}` must be a number > 0"):
                build(**{name: value})
    for value in (-4, 0, 2.5, True):
        with pytest.raises(ValueError, match="`queue_size` must be a positive integer"):
            build("similarity", queue_size=value)
    with pytest.raises(ValueError, match="feature_loss.*'cosine', 'mse'"):
        build(feature_loss="l1")
    with pytest.raises(ValueError, match="projection_layers"):
        build(projection_layers=0)
    with pytest.raises(TypeError, match="`augmenter` must be"):
        build(augmenter="simclr")


def test_bad_fit_data_is_refused_before_training():
    model = build("similarity", queue_size=4)
    model.compile(optimizer="auto")
    weights = values(model.encoder.weights)
    with pytest.raises(ValueError, match=r"`queue_size` \(4\) must be at least the global batch"):
        model.fit(random_images(8, SIZE), batch_size=8, verbose=0)
    # A dataset's batch size is known only when the step runs: the step
    # stops before its update.
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"`queue_size` \(4\) must be at"):
        model.fit(tf.data.Dataset.from_tensor_slices(random_images(8, SIZE)).batch(8), verbose=0)
    for before, after in zip(weights, model.encoder.weights):
        np.testing.assert_array_equal(before, after.numpy())

    model = build("feature")
    model.compile(optimizer="auto")
    x = random_images(8, SIZE)
    with pytest.raises(TypeError, match=r"keys \['images', 'teacher_outputs'\]"):
        model.fit({"images": x, "targets": np.zeros((8, 16), "float32")}, verbose=0)
    with pytest.raises(ValueError, match=r"must have shape \(batch, 16\)"):
        model.fit({"images": x, "teacher_outputs": np.zeros((8, 3), "float32")}, verbose=0)
    augmented = build("feature", augmenter="auto")
    augmented.compile(optimizer="auto")
    with pytest.raises(ValueError, match="needs augmenter=None"):
        augmented.teacher_targets(x)
    with pytest.raises(ValueError, match="needs augmenter=None"):
        augmented.fit({"images": x, "teacher_outputs": np.zeros((8, 16), "float32")}, verbose=0)
