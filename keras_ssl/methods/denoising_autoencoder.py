"""Denoising autoencoder: restore masked pixels, for convolutional encoders."""

import math

import keras
import numpy as np
from keras import ops

from keras_ssl.layers.random_pixel_masking import RandomPixelMasking
from keras_ssl.methods.ssl_method import SSLMethod
from keras_ssl.utils import check_choice


@keras.saving.register_keras_serializable(package="keras_ssl")
class DenoisingAutoencoder(SSLMethod):
    """Masked denoising autoencoder (Vincent et al. 2008; Pathak et al. 2016
    for patch masking), the simplest generative pretext task.

    Random pixels (`patch_size=1`) or square patches of each image are
    blanked (`keras_ssl.layers.RandomPixelMasking`); the encoder's feature
    vector is decoded by a small transposed-convolution decoder into the
    whole image, and the loss is the mean squared error on the masked
    pixels (`loss_on="masked"`) or on all of them (`loss_on="all"`), with
    pixels scaled to [0, 1].

    Args:
        encoder: a `keras.Model` mapping images to (N, D) features.
        mask_ratio: fraction of cells masked, in (0, 1).
        patch_size: side of the masked squares (1 = single pixels).
        decoder_filters: channels of the decoder's first feature map.
        loss_on: "masked" or "all".
        seed: seed of the masking.

    Example:

    >>> import numpy as np, keras_ssl
    >>> encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8, 16))
    >>> dae = keras_ssl.methods.DenoisingAutoencoder(encoder, mask_ratio=0.5, patch_size=4)
    >>> dae.compile(optimizer="auto")
    >>> x = np.random.default_rng(0).integers(0, 255, (8, 16, 16, 1)).astype("uint8")
    >>> sorted(dae.fit(x, batch_size=8, epochs=1, verbose=0).history)
    ['loss']
    """

    def __init__(
        self,
        encoder,
        mask_ratio=0.5,
        patch_size=4,
        decoder_filters=64,
        loss_on="masked",
        seed=None,
        **kwargs,
    ):
        super().__init__(encoder, **kwargs)
        check_choice("loss_on", loss_on, ("masked", "all"))
        height, width, channels = (int(d) for d in encoder.input_shape[1:])

        # === Layers ===
        self.masking = RandomPixelMasking(mask_ratio, patch_size=patch_size, seed=seed,
                                          name="masking")
        start_h, start_w = math.ceil(height / 4), math.ceil(width / 4)
        f = int(decoder_filters)
        self.decoder = keras.Sequential(
            [
                keras.Input((self.feature_dim,)),
                keras.layers.Dense(start_h * start_w * f, activation="relu"),
                keras.layers.Reshape((start_h, start_w, f)),
                keras.layers.Conv2DTranspose(f // 2, 3, strides=2, padding="same",
                                             activation="relu"),
                keras.layers.Conv2DTranspose(max(8, f // 4), 3, strides=2, padding="same",
                                             activation="relu"),
                keras.layers.Resizing(height, width),
                keras.layers.Conv2D(channels, 3, padding="same", activation="sigmoid"),
            ],
            name="decoder",
        )

        # === Config ===
        self.mask_ratio = self.masking.mask_ratio
        self.patch_size = int(patch_size)
        self.decoder_filters = f
        self.loss_on = loss_on
        self.seed = seed
        self.built = True

    def forward(self, images, training=False):
        """`(reconstruction in [0, 1], masked images, mask)`."""
        masked, mask = self.masking(images, training=True)
        reconstruction = self.decoder(self.encoder(masked, training=training), training=training)
        return reconstruction, masked, mask

    def compute_ssl_loss(self, images, training=True):
        reconstruction, _, mask = self.forward(images, training=training)
        error = ops.mean(ops.square(ops.cast(reconstruction, "float32") - images / 255.0),
                         axis=-1, keepdims=True)
        if self.loss_on == "all":
            return ops.mean(error), {}
        mask = ops.cast(mask, "float32")
        return ops.sum(error * mask) / ops.maximum(ops.sum(mask), 1.0), {}

    def reconstruct(self, images):
        """`(images, masked, reconstructed)` as float numpy arrays in [0, 255]."""
        images = ops.cast(ops.convert_to_tensor(images), "float32")
        reconstruction, masked, _ = self.forward(images, training=False)
        return (
            ops.convert_to_numpy(images),
            ops.convert_to_numpy(masked),
            np.clip(ops.convert_to_numpy(reconstruction) * 255.0, 0, 255),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mask_ratio": self.mask_ratio,
                "patch_size": self.patch_size,
                "decoder_filters": self.decoder_filters,
                "loss_on": self.loss_on,
                "seed": self.seed,
            }
        )
        return config
