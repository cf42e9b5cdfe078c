"""MoCo, BYOL, SimSiam, Barlow Twins, VICReg and DINO: learning, saving, export."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from keras_ssl import methods
from tests.testing import random_images
from tests.testing import run_export_test
from tests.testing import run_model_saving_test
from tests.testing import structured_images

SMALL = {
    "MoCo": {"queue_size": 64, "projection_dim": 16},
    "BYOL": {"projection_dim": 16, "projection_hidden_dim": 32},
    "SimSiam": {"projection_dim": 32},
    "BarlowTwins": {"projection_dim": 16},
    "VICReg": {"projection_dim": 16},
    "DINO": {"output_dim": 64, "hidden_dim": 32, "bottleneck_dim": 16, "local_crops": 2},
}
NAMES = sorted(SMALL)
TEACHERS = ("BYOL", "DINO", "MoCo")


def tiny_encoder(size=16):
    return keras_ssl.backbones.ConvNet(input_shape=(size, size, 1), filters=(8, 16))


def build(name, **overrides):
    kwargs = dict(SMALL[name], seed=0, **overrides)
    return getattr(methods, name)(tiny_encoder(), **kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_learns_on_a_fixed_batch_without_collapse(name):
    keras.utils.set_random_seed(0)
    # DINO's teacher at its default momentum (0.996) barely moves in 12
    # steps while centering flattens its targets, so its loss rises at
    # first (as in the paper's early epochs); a faster teacher shows learning.
    overrides = {"momentum": 0.9, "momentum_schedule": "constant"} if name == "DINO" else {}
    model = build(name, **overrides)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    # Fixed views (made once by the model's own augmenter), so the loss
    # measures learning, not the noise of fresh augmentations.
    views = tuple(keras.ops.convert_to_numpy(v)
                  for v in model.make_views(structured_images(32, 16)))
    history = model.fit(views, batch_size=32, epochs=12, shuffle=False, verbose=0).history
    losses = history["loss"]
    assert all(np.isfinite(losses)), losses
    # MoCo's first steps contrast against the queue's random initial rows
    # (an easy task); compare from the step where keys fill the queue.
    start = SMALL["MoCo"]["queue_size"] // 32 if name == "MoCo" else 0
    assert np.mean(losses[-3:]) < np.mean(losses[start:start + 2]), losses
    # embedding_std: about 1/sqrt(dim) when spread, 0 when collapsed.
    healthy = 1 / np.sqrt(model.embedding_dim)
    assert history["embedding_std"][-1] > 0.2 * healthy, history["embedding_std"]


@pytest.mark.parametrize("name", NAMES)
def test_keras_round_trip_restores_teacher_and_state(name, tmp_path):
    model = build(name)
    model.compile(optimizer="auto")
    model.fit(random_images(32, 16), batch_size=16, epochs=1, verbose=0)
    state = {v.path: v.numpy().copy() for v in model.non_trainable_variables
             if "teacher" in v.path or v.name in ("queue", "queue_pointer", "center")}
    if name in TEACHERS:
        assert any("teacher" in path for path in state)
    revived = run_model_saving_test(model, random_images(4, 16, seed=3), tmp_path)
    revived_state = {v.path: v.numpy() for v in revived.non_trainable_variables}
    for path, value in state.items():
        np.testing.assert_array_equal(revived_state[path], value, err_msg=path)
    assert json.loads(json.dumps(revived.get_config())) == json.loads(
        json.dumps(model.get_config()))
    revived.compile(optimizer="auto")
    revived.fit(random_images(32, 16), batch_size=16, epochs=1, verbose=0)


@pytest.mark.parametrize("name", TEACHERS)
def test_teacher_follows_the_student_and_is_not_optimized(name):
    model = build(name, momentum=0.5, momentum_schedule="constant")
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    teacher_ids = {id(v) for v in model.teacher.weights}
    assert not teacher_ids & {id(v) for v in model.trainable_variables}
    pairs = model.teacher.parameter_pairs(model._student_layers)
    before = [(t.numpy().copy(), s.numpy().copy()) for t, s in pairs]
    model.fit(random_images(16, 16), batch_size=16, epochs=1, verbose=0)
    moved = 0
    for (t, s), (t0, _) in zip(pairs, before):
        # One step: teacher = 0.5 * old teacher + 0.5 * updated student.
        np.testing.assert_allclose(t.numpy(), 0.5 * t0 + 0.5 * s.numpy(), atol=1e-5)
        moved += not np.allclose(t.numpy(), t0)
    assert moved > 0


def test_momentum_schedule_spans_the_fit_call_and_survives_resume(tmp_path):
    model = build("BYOL", momentum=0.9)
    model.compile(optimizer="auto")
    x = random_images(64, 16)
    model.fit(x, batch_size=16, epochs=3, verbose=0)
    assert int(model.schedule_steps.numpy()) == 12
    assert float(model.current_momentum()) == pytest.approx(1.0)
    backup = str(tmp_path / "backup")

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("interrupted")

    fresh = build("BYOL", momentum=0.9)
    fresh.compile(optimizer="auto")
    with pytest.raises(RuntimeError, match="interrupted"):
        fresh.fit(x, batch_size=16, epochs=4, verbose=0,
                  callbacks=[keras.callbacks.BackupAndRestore(backup), Interrupt()])
    resumed = build("BYOL", momentum=0.9)
    resumed.compile(optimizer="auto")
    resumed.fit(x, batch_size=16, epochs=4, verbose=0,
                callbacks=[keras.callbacks.BackupAndRestore(backup)])
    assert int(resumed.optimizer.iterations.numpy()) == 16
    assert int(resumed.schedule_steps.numpy()) == 16  # the whole run's length
    fixed = build("BYOL", schedule_steps=1000)
    fixed.compile(optimizer="auto")
    fixed.fit(x, batch_size=16, epochs=1, verbose=0)
    assert int(fixed.schedule_steps.numpy()) == 1000


def test_moco_queue_holds_the_latest_keys():
    model = build("MoCo", queue_size=48)
    model.compile(optimizer="auto")
    model.fit(random_images(32, 16), batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert int(model.queue_pointer.numpy()) == 32
    queue = model.queue.numpy()
    np.testing.assert_allclose(np.linalg.norm(queue[:32], axis=1), 1.0, atol=1e-5)
    assert np.abs(np.linalg.norm(queue[32:], axis=1) - 1.0).max() > 1e-3  # still random
    model.fit(random_images(32, 16), batch_size=16, epochs=1, verbose=0)
    assert int(model.queue_pointer.numpy()) == (64 % 48)


def test_moco_v3_in_batch_negatives_and_predictor():
    model = build("MoCo", queue_size=0, predictor=True, momentum_schedule="cosine")
    assert model.queue is None and model.predictor is not None
    model.compile(optimizer="auto")
    history = model.fit(random_images(32, 16), batch_size=16, epochs=1, verbose=0)
    assert 0.0 <= history.history["contrastive_accuracy"][0] <= 1.0


def test_dino_center_and_temperature_warmup():
    model = build("DINO", warmup_teacher_temperature=0.02, teacher_temperature=0.06,
                  warmup_fraction=0.5)
    model.compile(optimizer="auto")
    history = model.fit(random_images(32, 16), batch_size=16, epochs=4, verbose=0)
    temperatures = history.history["teacher_temperature"]
    assert temperatures[0] < temperatures[-1] == pytest.approx(0.06, abs=1e-6)
    assert np.abs(model.center.numpy()).max() > 0  # the center moved


@pytest.mark.parametrize("name", ["BYOL", "DINO"])
def test_export_student_and_teacher(name, tmp_path):
    model = build(name)
    model.compile(optimizer="auto")
    model.fit(random_images(32, 16), batch_size=16, epochs=1, verbose=0)
    images = random_images(4, 16, seed=9)
    run_export_test(model.encoder, images, tmp_path / "student")
    path = keras_ssl.export.export_backbone(model, str(tmp_path / "teacher"), teacher=True)
    served = tf.saved_model.load(path).signatures["serving_default"](
        tf.constant(images, "float32"))["embeddings"].numpy()
    expected = model.teacher.teacher_layers[0](images.astype("float32"), training=False)
    np.testing.assert_allclose(served, keras.ops.convert_to_numpy(expected), atol=1e-4)


def test_export_teacher_of_a_method_without_one_is_an_error(tmp_path):
    model = build("SimSiam")
    with pytest.raises(ValueError, match="no momentum teacher"):
        keras_ssl.export.export_backbone(model, str(tmp_path / "x"), teacher=True)
    with pytest.raises(ValueError, match="needs the pretraining method"):
        keras_ssl.export.export_backbone(model.encoder, str(tmp_path / "y"), teacher=True)
    assert not (tmp_path / "x").exists()


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="momentum"):
        build("BYOL", momentum=1.5)
    with pytest.raises(ValueError, match="momentum"):
        build("MoCo", momentum=-0.1)
    with pytest.raises(ValueError, match="momentum_schedule"):
        build("BYOL", momentum_schedule="linear")
    with pytest.raises(ValueError, match="queue_size"):
        build("MoCo", queue_size=-4)
    moco = build("MoCo", queue_size=50)
    moco.compile(optimizer="auto")
    with pytest.raises(ValueError, match=r"`queue_size` \(50\) must be a multiple"):
        moco.fit(random_images(32, 16), batch_size=16, verbose=0)
    for name in ("BarlowTwins", "VICReg"):
        model = build(name)
        model.compile(optimizer="auto")
        with pytest.raises(ValueError, match="at least 2 images"):
            model.fit(random_images(8, 16), batch_size=1, verbose=0)
    with pytest.raises(ValueError, match="local_size"):
        methods.DINO(tiny_encoder(), augmenter=keras_ssl.layers.MultiCrop(16, 24, channels=1))
    with pytest.raises(TypeError, match="MultiCrop"):
        methods.DINO(tiny_encoder(), augmenter=keras_ssl.layers.SimCLRAugmenter(16, channels=1))
    with pytest.raises(ValueError, match="redundancy_weight"):
        build("BarlowTwins", redundancy_weight=-1)
    with pytest.raises(ValueError, match="rank 4"):
        model = build("SimSiam")
        model.compile(optimizer="auto")
        model.fit(np.zeros((8, 16, 16), "uint8"), batch_size=4, verbose=0)


def test_collapse_monitor_stops_a_collapsing_run():
    # Identical images and no augmentation: every embedding is the same
    # point (complete collapse, embedding_std 0).
    model = build("BYOL", augmenter=keras.layers.Identity())
    model.compile(optimizer="auto")
    monitor = keras_ssl.evaluation.CollapseMonitor(patience=1, every=1, verbose=0)
    history = model.fit(np.zeros((64, 16, 16, 1), "uint8"), batch_size=16, epochs=5,
                        verbose=0, callbacks=[monitor])
    assert monitor.collapsed is not None and "collapse" in monitor.message
    assert len(history.history["loss"]) == 1  # stopped in the first epoch
    healthy = build("SimSiam")
    healthy.compile(optimizer="auto")
    monitor = keras_ssl.evaluation.CollapseMonitor(every=1, verbose=0)
    healthy.fit(structured_images(32, 16), batch_size=16, epochs=2, verbose=0,
                callbacks=[monitor])
    assert monitor.collapsed is None
    with pytest.raises(ValueError, match="embedding_std"):
        plain = keras_ssl.methods.RotationPrediction(tiny_encoder(), seed=0)
        plain.compile(optimizer="auto")
        plain.fit(random_images(8, 16), batch_size=8, verbose=0,
                  callbacks=[keras_ssl.evaluation.CollapseMonitor(min_std=0.01, every=1)])


@pytest.mark.parametrize("name", ["SimCLR", "BYOL"])
def test_multi_crop_option(name):
    crops = keras_ssl.layers.MultiCrop(16, 8, local_crops=2, channels=1, seed=0)
    kwargs = {"projection_dim": 16} if name == "SimCLR" else SMALL["BYOL"]
    model = getattr(methods, name)(tiny_encoder(), augmenter=crops, seed=0, **kwargs)
    assert model.num_views == 4
    # Each global view against every other view: 5 distinct pairs for SimCLR
    # (symmetric), 6 ordered ones for BYOL.
    assert len(model.view_pairs(4)) == 6
    model.compile(optimizer="auto")
    history = model.fit(structured_images(32, 16), batch_size=16, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    with pytest.raises(ValueError, match="compares two views"):
        methods.SimSiam(tiny_encoder(), augmenter=crops)


def test_byol_projector_output_batch_norm_is_an_option():
    # On by default (measured: BYOL learned on the digits demo only with it).
    assert build("BYOL").projector.output_batch_norm
    model = build("BYOL", projector_output_batch_norm=False)
    assert not model.projector.output_batch_norm
    assert model.get_config()["projector_output_batch_norm"] is False
