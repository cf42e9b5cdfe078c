"""A non-finite loss or gradient stops training and loses nothing good:
the weights, the optimizer and the batch-norm statistics keep their last
finite values, and the last checkpoint of a run stays loadable."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from keras_ssl.training import AtomicBackupAndRestore
from tests.testing import structured_images

MESSAGE = "non-finite loss or gradients at optimizer step"


def tiny_encoder(size=16):
    return keras_ssl.backbones.ConvNet(input_shape=(size, size, 1), filters=(8, 16))


class ZeroLossNaNGradient(keras_ssl.methods.SSLMethod):
    """A method whose loss is finite (0) but whose gradients are NaN once
    `poisoned` is set: d sqrt(u) / du is infinite at u = 0, times du/dw = 0."""

    def __init__(self, encoder, **kwargs):
        super().__init__(encoder, **kwargs)
        self.poisoned = keras.Variable(0.0, trainable=False, name="poisoned")

    def compute_ssl_loss(self, images, training=True):
        features = self.encoder(images, training=training)
        loss = tf.cond(
            self.poisoned > 0,
            lambda: tf.reduce_mean(tf.sqrt(tf.square(features) * 0.0)),
            lambda: tf.reduce_mean(tf.square(features - 1.0)),
        )
        return loss, {}


def snapshot(model):
    return {
        v.path: v.numpy().copy()
        for v in model.trainable_variables + model.non_trainable_variables
        if tf.as_dtype(v.dtype).is_floating and v.path != "poisoned"
    }


@pytest.mark.parametrize("jit_compile", [False, True])
def test_nan_gradient_with_finite_loss_stops_before_update(jit_compile):
    model = ZeroLossNaNGradient(tiny_encoder())
    model.compile(optimizer="auto", jit_compile=jit_compile)
    x = structured_images(16, 16)
    model.fit(x, batch_size=8, epochs=1, verbose=0)  # two good steps
    before = snapshot(model)
    model.poisoned.assign(1.0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"{MESSAGE} 2"):
        model.fit(x, batch_size=8, epochs=1, verbose=0)
    after = snapshot(model)
    assert set(before) == set(after)
    # Batch-norm statistics were updated by the forward pass of the bad step
    # and put back; trainable weights were never touched.
    assert any("moving_mean" in path for path in before)
    for path, value in before.items():
        np.testing.assert_array_equal(after[path], value, err_msg=path)
    assert int(model.optimizer.iterations.numpy()) == 2


def test_nan_image_keeps_batch_norm_statistics():
    model = keras_ssl.methods.SimCLR(tiny_encoder(), projection_dim=8, seed=0)
    model.compile(optimizer="auto")
    model.fit(structured_images(8, 16), batch_size=8, epochs=1, verbose=0)
    before = snapshot(model)
    bad = structured_images(8, 16).astype("float32")
    bad[0] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"{MESSAGE} 1"):
        model.fit(bad, batch_size=8, epochs=1, verbose=0)
    for path, value in snapshot(model).items():
        np.testing.assert_array_equal(value, before[path], err_msg=path)
        assert np.all(np.isfinite(value)), path


class Recorder(keras.callbacks.Callback):
    """Keeps the weights at each epoch end and at the start of training."""

    def __init__(self):
        super().__init__()
        self.at_epoch_end = {}
        self.at_train_begin = None

    def on_train_begin(self, logs=None):
        self.at_train_begin = [w.copy() for w in self.model.get_weights()]

    def on_epoch_end(self, epoch, logs=None):
        self.at_epoch_end[epoch] = [w.copy() for w in self.model.get_weights()]


class FaultAt(keras.callbacks.Callback):
    """Turns one encoder weight into NaN before a given batch of an epoch."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            kernel = self.model.encoder.trainable_weights[0]
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def test_fault_mid_run_keeps_last_good_checkpoint_and_resumes(tmp_path):
    x = structured_images(32, 16)
    backup = str(tmp_path / "checkpoints")

    def build():
        keras.utils.set_random_seed(0)
        model = keras_ssl.methods.SimCLR(tiny_encoder(), projection_dim=8, seed=0)
        model.compile(optimizer="auto")
        return model

    model, recorder = build(), Recorder()
    callbacks = [AtomicBackupAndRestore(backup), recorder, FaultAt(epoch=2, batch=1)]
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"{MESSAGE} 9"):
        model.fit(x, batch_size=8, epochs=4, callbacks=callbacks, verbose=0)
    assert sorted(recorder.at_epoch_end) == [0, 1]

    # A new process would build the same model and call the same fit: it
    # restores the end of epoch 1 (the last good state) and finishes.
    resumed, after_restore = build(), Recorder()
    history = resumed.fit(
        x, batch_size=8, epochs=4, verbose=0,
        callbacks=[AtomicBackupAndRestore(backup), after_restore],
    )
    for restored, good in zip(after_restore.at_train_begin, recorder.at_epoch_end[1]):
        np.testing.assert_array_equal(restored, good)
    assert len(history.history["loss"]) == 2  # epochs 2 and 3
    assert np.all(np.isfinite(history.history["loss"]))
    assert int(resumed.optimizer.iterations.numpy()) == 16
