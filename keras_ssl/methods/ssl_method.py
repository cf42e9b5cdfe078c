"""The base class every pretraining method derives from."""

import math

import keras
import tensorflow as tf

from keras_ssl.utils import check_images
from keras_ssl.utils import check_videos


def encoder_feature_dim(encoder, argument="encoder"):
    """Return the feature size D of an encoder mapping images to (N, D).

    Raises a ValueError naming `argument` when `encoder` is not a built Keras
    model with a single rank-2 output.
    """
    if not isinstance(encoder, keras.Model):
        raise TypeError(
            f"`{argument}` must be a keras.Model mapping images to a feature "
            f"vector, got {type(encoder).__name__}."
        )
    try:
        output_shape = encoder.output_shape
    except (AttributeError, ValueError):
        output_shape = None
    if output_shape is None or isinstance(output_shape, list):
        raise ValueError(
            f"`{argument}` must have a single known output of shape (batch, "
            f"features); got output shape {output_shape!r}. Build the model "
            "with a fixed input shape (e.g. keras_ssl.backbones.ResNet18("
            "input_shape=(32, 32, 3)))."
        )
    if len(output_shape) != 2 or output_shape[-1] is None:
        raise ValueError(
            f"`{argument}` must output a feature vector of shape (batch, "
            f"features), got output shape {tuple(output_shape)}. Add a "
            "pooling layer (e.g. GlobalAveragePooling2D) at the end of the "
            "encoder."
        )
    return int(output_shape[-1])


NON_FINITE_MESSAGE = "non-finite loss or gradients at optimizer step"


def _all_finite(gradients):
    """True when every gradient tensor holds only finite values."""
    checks = [
        tf.reduce_all(tf.math.is_finite(g)) for g in gradients if g is not None
    ]
    return tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)


class _NonFiniteLossStop(keras.callbacks.Callback):
    """Stop an XLA-compiled `fit` at the first non-finite logged loss.

    The compiled step has already skipped the update; this raises the same
    error as the non-XLA step's check, naming the optimizer step.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            step = int(self.model.optimizer.iterations.numpy())
            raise tf.errors.InvalidArgumentError(
                None,
                None,
                f"{type(self.model).__name__}: {NON_FINITE_MESSAGE} {step} "
                "(0-based, XLA-compiled step); training stopped, the update of "
                f"that step was not applied. Loss: {loss}",
            )


def _input_spec(dataset):
    """The `TensorSpec` of the inputs (first element) of a dataset's batches,
    or None when they are not a single tensor."""
    spec = dataset.element_spec
    while isinstance(spec, (tuple, list)) and spec:
        spec = spec[0]
    return spec if isinstance(spec, tf.TensorSpec) else None


def _fit_batch_size(args, kwargs):
    """The global batch size a `fit(x, ..., batch_size=...)` call will use,
    or None when it cannot be told before training."""
    x = kwargs.get("x", args[0] if args else None)
    if isinstance(x, tf.data.Dataset):
        spec = _input_spec(x)
        if spec is not None and spec.shape.rank:
            return spec.shape[0]
        return None
    batch_size = kwargs.get("batch_size", args[2] if len(args) > 2 else None)
    if x is None or not hasattr(x, "shape"):
        return batch_size
    return min(batch_size or 32, len(x))


def _in_multi_worker_mode():
    strategy = tf.distribute.get_strategy()
    extended = getattr(strategy, "extended", None)
    in_multi_worker = getattr(extended, "_in_multi_worker_mode", None)
    return bool(in_multi_worker and in_multi_worker())


class PretrainingModel(keras.Model):
    """Training-loop base shared by every pretraining method.

    Subclasses implement `prepare_inputs(data)` (turn a batch from `fit`
    into model inputs) and `compute_ssl_loss(inputs, training)` returning a
    scalar loss and a dict of extra logs. This class supplies:

    * the loss divided by the number of replicas, so that gradients summed
      across replicas under `tf.distribute` give the global-batch mean;
    * mixed-precision loss scaling through `optimizer.scale_loss`;
    * a non-finite loss or gradient stops training before any part of the
      update is applied (batch-norm statistics of the bad step are put
      back too), with an error that names the optimizer step;
    * `compile(optimizer="auto")` with the method's documented default
      optimizer (`default_optimizer`), and the optimizer restored when a
      `.keras` file is loaded;
    * a `metrics` property, so trackers reset every epoch.
    """

    # Why `supports_jit` is False, for the error `compile(jit_compile=True)`
    # raises in a subclass that cannot be XLA-compiled.
    jit_unsupported_reason = ""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    # Optimizer --------------------------------------------------------------

    def default_optimizer(self):
        """The optimizer `compile(optimizer="auto")` uses: AdamW, lr 1e-3."""
        return keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4)

    def compile(self, optimizer="auto", **kwargs):
        """Configure the method for training.

        Args:
            optimizer: a `keras.optimizers.Optimizer`, an optimizer name, or
                `"auto"` for the method's default (see `default_optimizer`).
            **kwargs: passed to `keras.Model.compile` (e.g.
                `steps_per_execution`). A `loss` is not accepted: the pretext
                loss is part of the method. `jit_compile` defaults to
                `"auto"`, Keras's rule: XLA on a GPU, off on a CPU (where
                `benchmarks/throughput.py` measured XLA slower for the ResNet
                methods) and under `tf.distribute`; off for methods that
                cannot be compiled (`supports_jit = False`).
        """
        if "loss" in kwargs and kwargs["loss"] is not None:
            raise ValueError(
                f"{type(self).__name__} computes its own pretext loss; do not "
                f"pass `loss` to compile (got {kwargs['loss']!r})."
            )
        if isinstance(optimizer, str) and optimizer == "auto":
            optimizer = self.default_optimizer()
        jit_compile = kwargs.setdefault("jit_compile", "auto")
        if jit_compile is True and not self.supports_jit:
            raise ValueError(
                f"`jit_compile`=True is not supported by {type(self).__name__}: "
                f"{self.jit_unsupported_reason} Use jit_compile=False or \"auto\"."
            )
        super().compile(optimizer=optimizer, **kwargs)
        if self.built:
            # Create the optimizer's slot variables here, outside the train
            # function: an XLA-compiled step (`jit_compile=True`) cannot
            # create variables, and Keras only builds the optimizer ahead of
            # the first step for models trained through a compiled loss.
            self.optimizer.build(self.trainable_variables)

    # Training ---------------------------------------------------------------

    @property
    def metrics(self):
        return [self.loss_tracker] + list(self.extra_metrics())

    def extra_metrics(self):
        """Metric objects (besides the loss) reset at each epoch."""
        return []

    def prepare_inputs(self, data):
        """Turn a batch from `fit` into the inputs of `compute_ssl_loss`."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement prepare_inputs()."
        )

    def compute_ssl_loss(self, inputs, training=True):
        """Return `(loss, logs)` for a batch of prepared inputs."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement compute_ssl_loss()."
        )

    def train_step(self, data):
        inputs = self.prepare_inputs(data)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        # Batch-norm moving statistics are updated during the forward pass,
        # before the loss is known; keep their values so that a non-finite
        # step can put them back (single device: under tf.distribute the
        # step stops the run and the last checkpoint holds good values).
        guarded = self._guarded_state() if replicas == 1 else []
        saved = [tf.identity(v.value) for v in guarded]
        with tf.GradientTape() as tape:
            loss, logs = self.compute_ssl_loss(inputs, training=True)
            loss = tf.cast(loss, "float32")
            scaled = self.optimizer.scale_loss(loss / replicas)
        gradients = tape.gradient(scaled, self.trainable_variables)
        finite = tf.math.is_finite(loss)
        if not isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            # Under dynamic loss scaling, overflowing scaled gradients are
            # expected: the LossScaleOptimizer skips those steps itself.
            finite = tf.logical_and(finite, _all_finite(gradients))
        restored = [
            v.assign(tf.where(finite, v.value, value))
            for v, value in zip(guarded, saved)
        ]
        if self.jit_compile is True and replicas == 1:
            # XLA drops Assert ops, so under jit_compile the update is skipped
            # instead; the logged loss becomes NaN and `fit` raises from a
            # callback (`_NonFiniteLossStop`).
            def update():
                self.optimizer.apply(gradients, self.trainable_variables)
                self.after_update()

            tf.cond(finite, update, lambda: None)
            logged = tf.where(finite, loss, float("nan"))
        else:
            with tf.control_dependencies(restored):
                message = tf.strings.format(
                    f"{type(self).__name__}: {NON_FINITE_MESSAGE} {{}} "
                    "(0-based); training stopped before this update was "
                    "applied. Loss: {}",
                    [self.optimizer.iterations, loss],
                )
                check = tf.debugging.Assert(finite, [message])
            # Every op of the update (weight decay too) waits for the check,
            # so a non-finite step leaves the weights as they were.
            with tf.control_dependencies([check]):
                self.optimizer.apply(
                    [tf.identity(g) if g is not None else None for g in gradients],
                    self.trainable_variables,
                )
                self.after_update()
            logged = loss
        self.loss_tracker.update_state(logged)
        return self.compile_logs(logs)

    def after_update(self):
        """State updates that follow each optimizer step, in the same step.

        Called by `train_step` right after `optimizer.apply` (and only when
        the step was applied): a momentum teacher's EMA, a negatives queue,
        a running center. The default does nothing.
        """

    def unguarded_state(self):
        """Non-trainable variables the forward pass does not change (a
        teacher's weights, a queue): left out of the non-finite-step
        restore, which would copy them at every step for nothing."""
        return []

    def _guarded_state(self):
        """Floating-point non-trainable variables: batch-norm statistics."""
        skip = {id(v) for v in self.unguarded_state()}
        return [
            v for v in self.non_trainable_variables
            if tf.as_dtype(v.dtype).is_floating and id(v) not in skip
        ]

    #: the smallest batch the pretext loss works with (a contrastive loss
    #: needs other samples in the batch); None accepts any
    min_batch_size = None
    #: what a batch holds, for the batch-size errors
    batch_items = "samples"

    def _batch_message(self):
        return (
            f"{type(self).__name__} needs at least {self.min_batch_size} {self.batch_items} "
            "per batch (its loss compares the samples of a batch)"
        )

    def check_fit_data(self, batch_size):
        """Check the global batch size of a `fit` call before training
        starts (None when unknown) against `min_batch_size`."""
        if self.min_batch_size and batch_size is not None and batch_size < self.min_batch_size:
            raise ValueError(f"{self._batch_message()}; got batch_size={batch_size}.")

    def check_batch(self, batch):
        """Refuse a batch smaller than `min_batch_size`: at trace time for a
        static size, else at run time. Returns the run-time check, for
        `tf.control_dependencies`."""
        static_batch = batch.shape[0]
        if static_batch is not None and static_batch < self.min_batch_size:
            raise ValueError(f"{self._batch_message()}; got a batch of {static_batch}.")
        return tf.debugging.assert_greater_equal(
            tf.shape(batch)[0],
            self.min_batch_size,
            message=f"{self._batch_message()}. Use a larger batch_size, or drop_remainder=True.",
        )

    def fit(self, *args, **kwargs):
        self.check_fit_data(_fit_batch_size(args, kwargs))
        # Read by callbacks that schedule over the steps this call will run.
        self._fit_initial_epoch = int(kwargs.get("initial_epoch", 0) or 0)
        internal = self.fit_callbacks()
        if internal:
            callbacks = kwargs.get("callbacks")
            callbacks = list(callbacks) if callbacks is not None else []
            kwargs["callbacks"] = callbacks + internal
        return super().fit(*args, **kwargs)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Under a tf.distribute strategy Keras 3 (3.15) averages the first
        # batch over the replicas (`strategy.reduce("MEAN", batch)`) to
        # build the model symbolically, which fails on string inputs (the
        # text methods, CLIP). A built method with no compiled loss or
        # metrics needs no data for that: only its optimizer is built.
        # (Weightless preprocessing layers, a tokenizer or a packer, stay
        # unbuilt until called; they hold nothing to build.)
        if (self._distribute_strategy is not None and self.built
                and self._compile_metrics is None and self._compile_loss is None):
            with self.distribute_strategy.scope():
                if self.optimizer is not None and not self.optimizer.built:
                    self.optimizer.build(self.trainable_variables)
                self._post_build()
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def fit_callbacks(self):
        """Callbacks the method adds to every `fit` (after the user's)."""
        return [_NonFiniteLossStop()] if self.jit_compile is True else []

    def test_step(self, data):
        inputs = self.prepare_inputs(data)
        loss, logs = self.compute_ssl_loss(inputs, training=False)
        self.loss_tracker.update_state(loss)
        return self.compile_logs(logs)

    def compile_logs(self, logs):
        result = {"loss": self.loss_tracker.result()}
        for metric in self.extra_metrics():
            result[metric.name] = metric.result()
        result.update(logs or {})
        if _in_multi_worker_mode():
            # Keras 3.15 reduces step outputs across workers with
            # `strategy.reduce("MEAN", value, axis=0)`, which fails on
            # scalars; a shape-(1,) value reduces to the same scalar.
            result = {k: tf.reshape(v, [1]) for k, v in result.items()}
        return result

    # Serialization ----------------------------------------------------------

    def get_compile_config(self):
        if not self.compiled:
            return None
        return {"optimizer": keras.saving.serialize_keras_object(self.optimizer)}

    def compile_from_config(self, config):
        optimizer = keras.saving.deserialize_keras_object(config["optimizer"])
        self.compile(optimizer=optimizer)


class SSLMethod(PretrainingModel):
    """Base class of keras_ssl's image pretraining methods.

    A method wraps an `encoder` (a `keras.Model` mapping images to feature
    vectors) and overrides `train_step` (see `PretrainingModel`) to optimise
    a pretext task. Subclasses implement `compute_ssl_loss(images,
    training)`; images from `fit` are validated (rank 4, uint8 or float in
    [0, 255]) and cast to float32 first. Labels in the data are ignored.

    `call(images)` returns the encoder's features, so `model.predict(x)`
    gives embeddings and a `.keras` round trip can be checked on outputs.
    """

    def __init__(self, encoder, **kwargs):
        super().__init__(**kwargs)
        self.feature_dim = encoder_feature_dim(encoder)
        self.encoder = encoder

    def call(self, inputs, training=False):
        return self.encoder(inputs, training=training)

    def prepare_inputs(self, data):
        return self.prepare_images(data)

    def prepare_images(self, data, argument="x"):
        """Extract images from `fit` data and cast them to float32."""
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(images, dict):
            raise TypeError(
                f"{type(self).__name__} expects `{argument}` to be a batch of "
                "images, got a dict."
            )
        check_images(images, name=argument)
        return tf.cast(images, "float32")

    def prepare_videos(self, data, argument="x"):
        """Extract clips (N, T, H, W, C) from `fit` data and cast them to
        float32 (the video methods' `prepare_inputs`).

        A step traced again for inputs of another shape sees relaxed
        shapes (unknown sizes, or rank), so the video methods check the
        data itself in `fit` (`check_fit_inputs`) as well.
        """
        videos, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(videos, dict):
            raise TypeError(
                f"{type(self).__name__} expects `{argument}` to be a batch of videos, got a "
                "dict."
            )
        check_videos(videos, name=argument, allow_unknown_rank=True)
        return tf.cast(videos, "float32")

    def fit(self, *args, **kwargs):
        inputs = _fit_input_sample(args, kwargs)
        if inputs is not None:
            self.check_fit_inputs(inputs)
        return super().fit(*args, **kwargs)

    def check_fit_inputs(self, inputs):
        """Raise a clear error, before training starts, when `fit`'s inputs
        cannot be used: `inputs` is the array or tensor passed as `x`, or
        the `tf.TensorSpec` of a dataset's batches. The default accepts
        anything (images are checked when the step is traced)."""

    def get_config(self):
        config = super().get_config()
        config.update(
            {"encoder": keras.saving.serialize_keras_object(self.encoder)}
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(
            config["encoder"]
        )
        return cls(**config)


def _fit_inputs(args, kwargs):
    x = kwargs.get("x", args[0] if args else None)
    if isinstance(x, (tuple, list)) and x and hasattr(x[0], "shape"):
        x = x[0]
    return x


def _fit_input_sample(args, kwargs):
    """What `check_fit_inputs` sees of `fit`'s inputs: the array or tensor
    `x`, the `tf.TensorSpec` of a dataset's batches, or None."""
    x = _fit_inputs(args, kwargs)
    if isinstance(x, tf.data.Dataset):
        spec = _input_spec(x)
        return spec if spec is not None and spec.shape.rank is not None else None
    return x if hasattr(x, "shape") and hasattr(x, "dtype") else None


class VideoInputs:
    """What the video methods share (put it before their base class): clips
    (N, T, H, W, C) checked in `fit` and in the step against the method's
    `check_clip_shape(shape)`."""

    def check_fit_inputs(self, inputs):
        check_videos(inputs, name="x")
        self.check_clip_shape(inputs.shape)

    def prepare_inputs(self, data):
        videos = self.prepare_videos(data)
        if videos.shape.rank is not None:
            self.check_clip_shape(videos.shape)
        return videos


class SeriesMethod(SSLMethod):
    """Base class of the methods for time series (CPC, wav2vec 2.0).

    Inputs are float series (N, T, C), zero-padded at the end (see
    `keras_ssl.datasets.load_series`); the encoder must give per-step
    features through `sequence_model()` (e.g.
    `keras_ssl.backbones.TemporalConvNet`), which the pretext task
    trains on. `call(series)` returns the pooled features.
    """

    def __init__(self, encoder, **kwargs):
        super().__init__(encoder, **kwargs)
        if not callable(getattr(encoder, "sequence_model", None)):
            raise TypeError(
                f"{type(self).__name__} needs an `encoder` with per-step features "
                "(a `sequence_model()` method), e.g. keras_ssl.backbones.TemporalConvNet; got "
                f"{type(encoder).__name__}."
            )
        self.sequence_encoder = encoder.sequence_model()

    def prepare_inputs(self, data):
        series, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(series, dict) or not hasattr(series, "shape"):
            raise TypeError(
                f"{type(self).__name__} expects `x` to be a batch of series (N, T, C), got "
                f"{type(series).__name__}."
            )
        rank = series.shape.rank if isinstance(series.shape, tf.TensorShape) else len(series.shape)
        if rank is not None and rank != 3:
            raise ValueError(
                f"`x` must have rank 3 (series, steps, channels), got shape {tuple(series.shape)}."
            )
        return tf.cast(series, "float32")

    def fit(self, *args, **kwargs):
        x = _fit_inputs(args, kwargs)
        if x is not None and not isinstance(x, tf.data.Dataset) and hasattr(x, "shape"):
            from keras_ssl.datasets.series import check_series

            check_series(x, name="x")
            self.check_steps(x.shape[1], "data (`x`)")
        if isinstance(x, tf.data.Dataset):
            spec = _input_spec(x)
            if spec is not None and spec.shape.rank not in (None, 3):
                raise ValueError(
                    "`x` must yield batches of rank 3 (series, steps, channels), got element "
                    f"shape {tuple(spec.shape)}."
                )
        return super().fit(*args, **kwargs)

    def check_steps(self, steps, what):
        """Raise a clear error when series of `steps` steps are too short
        for the pretext task (`what` names them). Default: any length."""

    def sequence_features(self, series, training=False):
        """Per-step features (N, T', D) and valid-step mask (N, T')."""
        return self.sequence_encoder(series, training=training)
