"""SimCLR: contrastive learning of visual representations."""

import keras
import tensorflow as tf

from keras_ssl.layers.simclr_projection_head import SimCLRProjectionHead
from keras_ssl.losses.nt_xent import nt_xent
from keras_ssl.methods.ssl_method import SSLMethod


@keras.saving.register_keras_serializable(package="keras_ssl")
class SimCLR(SSLMethod):
    """SimCLR pretraining (Chen et al. 2020, "A Simple Framework for
    Contrastive Learning of Visual Representations").

    Each batch is augmented twice; the encoder and a projection head map
    both views to embeddings, and the NT-Xent loss pulls the two views of
    each image together and pushes the other images of the batch away.

    `fit` takes unlabeled images: a numpy array or a `tf.data.Dataset` of
    batches, uint8 or float in [0, 255], shape (N, H, W, C). Labels, if
    present, are ignored. Augmentation then runs inside `train_step`.
    `fit` also takes ready-made views: batches whose `x` is a pair
    `(view_a, view_b)` of augmented images. `augment_dataset(dataset)`
    builds such a dataset with the model's own augmenter, so augmentation
    runs in `tf.data` workers, overlapped with the train step.

    Args:
        encoder: a `keras.Model` mapping images to (N, D) features, e.g.
            `keras_ssl.backbones.ResNet18(input_shape=(32, 32, 3))`.
        augmenter: the view-generating layer. Default:
            `keras_ssl.layers.SimCLRAugmenter.for_input_shape(...)` fitted to
            the encoder's input shape.
        projection_dim: output size of the projection head.
        projection_hidden_dim: hidden width of the head; default: the
            encoder's feature size.
        projection_layers: number of Dense layers in the head.
        temperature: NT-Xent temperature.
        gather_across_replicas: under `tf.distribute`, use the negatives of
            the whole global batch (as the official SimCLR code does).
        synchronized: synchronize the projection head's batch norm across
            replicas (pass `synchronized=True` to the backbone too, for
            its own batch norm).
        seed: seed of the default augmenter.

    Metrics: `loss` and `contrastive_accuracy` (how often a view's nearest
    candidate among the other 2N - 1 views is its partner).

    `compile(optimizer="auto")` uses AdamW (learning rate 1e-3, weight decay
    1e-4), a good default for the small batches of a single machine; LARS
    with a large batch is what the paper used on TPUs.

    Example:

    >>> import numpy as np, keras_ssl
    >>> encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8, 16))
    >>> model = keras_ssl.methods.SimCLR(encoder, projection_dim=16, seed=0)
    >>> model.compile(optimizer="auto")
    >>> x = np.random.default_rng(0).integers(0, 255, (32, 16, 16, 1)).astype("uint8")
    >>> history = model.fit(x, batch_size=16, epochs=1, verbose=0)
    >>> sorted(history.history)
    ['contrastive_accuracy', 'loss']
    """

    def __init__(
        self,
        encoder,
        augmenter=None,
        projection_dim=128,
        projection_hidden_dim=None,
        projection_layers=2,
        temperature=0.1,
        gather_across_replicas=True,
        synchronized=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(encoder, **kwargs)
        if temperature <= 0:
            raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
        # === Layers ===
        if augmenter is None:
            from keras_ssl.layers import SimCLRAugmenter

            augmenter = SimCLRAugmenter.for_input_shape(
                tuple(encoder.input_shape[1:]), seed=seed
            )
        self.augmenter = augmenter
        hidden = projection_hidden_dim or self.feature_dim
        self.projection_head = SimCLRProjectionHead(
            output_dim=projection_dim,
            hidden_dim=hidden,
            num_layers=projection_layers,
            synchronized=synchronized,
            name="projection_head",
        )
        self.projection_head.build((None, self.feature_dim))
        self.accuracy_tracker = keras.metrics.Mean(name="contrastive_accuracy")

        # === Config ===
        self.projection_dim = projection_dim
        self.projection_hidden_dim = projection_hidden_dim
        self.projection_layers = projection_layers
        self.temperature = temperature
        self.gather_across_replicas = gather_across_replicas
        self.synchronized = synchronized
        self.seed = seed
        # Every weight exists now (encoder and head are built), so the model
        # counts as built: BackupAndRestore and weight loading need that.
        self.built = True

    def extra_metrics(self):
        return [self.accuracy_tracker]

    def prepare_inputs(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(x, (tuple, list)):
            if len(x) != 2:
                raise ValueError(
                    "SimCLR expects `x` to be a batch of images or a pair "
                    f"(view_a, view_b) of augmented views; got {len(x)} tensors."
                )
            view_a = self.prepare_images(x[0], argument="x[0] (view_a)")
            view_b = self.prepare_images(x[1], argument="x[1] (view_b)")
            if view_a.shape[1:] != view_b.shape[1:]:
                raise ValueError(
                    "The two views must have the same image shape, got "
                    f"{tuple(view_a.shape)} and {tuple(view_b.shape)}."
                )
            return (view_a, view_b)
        return self.prepare_images(data)

    def make_views(self, images):
        """Two independently augmented views of a batch of images."""
        return (
            self.augmenter(images, training=True),
            self.augmenter(images, training=True),
        )

    def augment_dataset(self, dataset, num_parallel_calls=tf.data.AUTOTUNE):
        """Move augmentation from the train step into the `tf.data` pipeline.

        Maps the model's augmenter over a batched `dataset` (elements:
        images, or `(images, labels)`; labels are dropped) and returns a
        dataset of `((view_a, view_b),)` batches that `fit` trains on
        without augmenting again. The views are made by `tf.data`'s threads
        while the previous step runs.

        Example:

        >>> import numpy as np, tensorflow as tf, keras_ssl
        >>> encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8,))
        >>> model = keras_ssl.methods.SimCLR(encoder, projection_dim=8, seed=0)
        >>> x = np.zeros((8, 16, 16, 1), "uint8")
        >>> views = model.augment_dataset(tf.data.Dataset.from_tensor_slices(x).batch(4))
        >>> [tuple(v.shape) for v in next(iter(views))[0]]
        [(4, 16, 16, 1), (4, 16, 16, 1)]
        """
        if not isinstance(dataset, tf.data.Dataset):
            raise TypeError(
                "`dataset` must be a batched tf.data.Dataset of images, got "
                f"{type(dataset).__name__}."
            )
        spec = dataset.element_spec
        if isinstance(spec, (tuple, list)):
            spec = spec[0]
        if not isinstance(spec, tf.TensorSpec) or spec.shape.rank != 4:
            raise ValueError(
                "`dataset` must yield batches of images of shape (N, H, W, C) "
                f"(batch it first), got elements {dataset.element_spec}."
            )

        def views(*element):
            images = self.prepare_images(element[0], argument="dataset images")
            return (self.make_views(images),)

        return dataset.map(views, num_parallel_calls=num_parallel_calls).prefetch(
            tf.data.AUTOTUNE
        )

    def compute_ssl_loss(self, images, training=True):
        if isinstance(images, tuple):
            (view_a, view_b), images = images, images[0]
        else:
            view_a = view_b = None
        static_batch = images.shape[0]
        if static_batch is not None and static_batch < 2:
            raise ValueError(
                "SimCLR needs at least 2 images per batch for negatives, got a "
                f"batch of {static_batch}. Use batch_size >= 2."
            )
        check = tf.debugging.assert_greater_equal(
            tf.shape(images)[0],
            2,
            message=(
                "SimCLR needs at least 2 images per batch for negatives; got a "
                "batch of 1. Use batch_size >= 2, or drop_remainder=True."
            ),
        )
        with tf.control_dependencies([check]):
            if view_a is None:
                view_a, view_b = self.make_views(images)
            else:
                view_a, view_b = tf.identity(view_a), tf.identity(view_b)
        z_a = self.projection_head(
            self.encoder(view_a, training=training), training=training
        )
        z_b = self.projection_head(
            self.encoder(view_b, training=training), training=training
        )
        loss, accuracy = nt_xent(
            z_a,
            z_b,
            temperature=self.temperature,
            gather_across_replicas=self.gather_across_replicas,
        )
        self.accuracy_tracker.update_state(accuracy)
        return tf.reduce_mean(loss), {}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "augmenter": keras.saving.serialize_keras_object(self.augmenter),
                "projection_dim": self.projection_dim,
                "projection_hidden_dim": self.projection_hidden_dim,
                "projection_layers": self.projection_layers,
                "temperature": self.temperature,
                "gather_across_replicas": self.gather_across_replicas,
                "synchronized": self.synchronized,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("augmenter") is not None:
            config["augmenter"] = keras.saving.deserialize_keras_object(
                config["augmenter"]
            )
        return super().from_config(config)
