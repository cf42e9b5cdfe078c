"""SimMIM: masked image modeling with a linear head, for ViTs and ConvNets."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ssl.layers.patchify import Patchify
from keras_ssl.layers.patchify import Unpatchify
from keras_ssl.layers.random_pixel_masking import random_block_mask
from keras_ssl.methods.ssl_method import SSLMethod
from keras_ssl.utils import check_fraction


def _feature_map_model(encoder):
    """The encoder up to its last global average pooling: the spatial map
    that a convolutional backbone pools into its feature vector."""
    pools = [layer for layer in encoder.layers
             if isinstance(layer, keras.layers.GlobalAveragePooling2D)]
    if not pools:
        raise ValueError(
            "SimMIM needs a ViT (keras_ssl.backbones.ViT) or a convolutional encoder "
            "that ends in a GlobalAveragePooling2D layer (ResNet, ConvNet), so that it "
            f"can predict pixels from the spatial feature map; got {type(encoder).__name__} "
            "without one."
        )
    return keras.Model(encoder.inputs, pools[-1].input, name=f"{encoder.name}_feature_map")


@keras.saving.register_keras_serializable(package="keras_ssl")
class SimMIM(SSLMethod):
    """SimMIM (Xie et al. 2022, "SimMIM: a Simple Framework for Masked Image
    Modeling").

    Square blocks of `mask_patch_size` pixels are masked at random, a
    fraction `mask_ratio` of them per image. Unlike MAE, the encoder sees
    the whole image with the masked part replaced by something learned, and
    a single linear layer predicts the raw pixels; the loss is the L1
    distance on masked pixels only, with pixels scaled to [0, 1].

    - ViT encoders: the patch embeddings of masked patches are replaced by
      a learned mask token before the position embedding;
      `mask_patch_size` must be a multiple of the ViT's patch size. The
      head maps each output token to its patch's pixels.
    - Convolutional encoders (any encoder ending in
      `GlobalAveragePooling2D`, e.g. `backbones.ResNet`): masked pixels are
      replaced by a learned value per channel; a 1x1 convolution on the
      last feature map predicts each feature cell's block of pixels
      (depth-to-space, as in the paper's head).

    Where the mask patch size does not divide the image, the last row and
    column of mask patches are cut short.

    The encoder stays a plain backbone: exported or probed, it runs on
    whole images without masking.

    Args:
        encoder: a `keras_ssl.backbones.ViT` or a convolutional backbone.
        mask_ratio: fraction of mask patches hidden, in (0, 1) (paper: 0.6).
        mask_patch_size: side of the masked squares in pixels. Default: 2 x
            the patch size for a ViT, the feature map's stride (image side /
            feature map side, rounded up) for a ConvNet.
        seed: seed of the masking.

    Example:

    >>> import numpy as np, keras_ssl
    >>> vit = keras_ssl.backbones.ViT(input_shape=(16, 16, 1), patch_size=4,
    ...                               hidden_dim=32, num_layers=1, num_heads=2)
    >>> simmim = keras_ssl.methods.SimMIM(vit, mask_ratio=0.5, mask_patch_size=8)
    >>> simmim.compile(optimizer="auto")
    >>> x = np.random.default_rng(0).integers(0, 255, (8, 16, 16, 1)).astype("uint8")
    >>> sorted(simmim.fit(x, batch_size=8, epochs=1, verbose=0).history)
    ['loss']
    >>> images, masked, reconstructed = simmim.reconstruct(x[:2])
    >>> reconstructed.shape
    (2, 16, 16, 1)
    """

    def __init__(self, encoder, mask_ratio=0.6, mask_patch_size=None, seed=None, **kwargs):
        super().__init__(encoder, **kwargs)
        mask_ratio = check_fraction("mask_ratio", mask_ratio)
        height, width, channels = (int(d) for d in encoder.input_shape[1:])
        self.is_vit = all(hasattr(encoder, attr) for attr in
                          ("encode_masked", "patch_embedding", "patch_size"))

        # === Layers ===
        if self.is_vit:
            p = int(encoder.patch_size)
            mask_patch_size = int(mask_patch_size or 2 * p)
            if mask_patch_size < p or mask_patch_size % p:
                raise ValueError(
                    f"`mask_patch_size` ({mask_patch_size}) must be a multiple of the ViT's "
                    f"patch size ({p})."
                )
            self.mask_token = self.add_weight(
                shape=(1, 1, int(encoder.hidden_dim)), name="mask_token",
                initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            )
            self.patchify = Patchify(p, name="patchify", dtype="float32")
            self.unpatchify = Unpatchify(p, (height, width), channels, name="unpatchify",
                                         dtype="float32")
            self.head = keras.layers.Dense(p * p * channels, name="head")
            self.head.build((None, None, int(encoder.hidden_dim)))
            self.stride = p
        else:
            self.feature_map = _feature_map_model(encoder)
            _, fh, fw, depth = self.feature_map.output_shape
            self.stride = max(-(-height // int(fh)), -(-width // int(fw)))
            mask_patch_size = int(mask_patch_size or self.stride)
            if mask_patch_size < 1:
                raise ValueError(f"`mask_patch_size` must be >= 1, got {mask_patch_size!r}.")
            self.mask_fill = self.add_weight(
                shape=(1, 1, 1, channels), name="mask_fill", initializer="zeros",
            )
            self.head = keras.layers.Conv2D(self.stride * self.stride * channels, 1,
                                            name="head")
            self.head.build((None, int(fh), int(fw), int(depth)))
        if mask_patch_size > max(height, width):
            raise ValueError(
                f"`mask_patch_size` ({mask_patch_size}) is larger than the images "
                f"({height} x {width})."
            )
        self.seed_generator = keras.random.SeedGenerator(seed)

        # === Config ===
        self.mask_ratio = mask_ratio
        self.mask_patch_size = mask_patch_size
        self.seed = seed
        self.image_size = (height, width, channels)
        self.built = True

    def pixel_mask(self, batch):
        """(N, H, W) random mask, 1 on masked pixels."""
        height, width, _ = self.image_size
        return random_block_mask(batch, (height, width), self.mask_patch_size,
                                 self.mask_ratio, self.seed_generator)

    def forward(self, images, mask, training=False):
        """Predicted pixels (N, H, W, C) in [0, 1] units, from images whose
        `mask` (N, H, W) pixels are hidden."""
        images = ops.cast(images, "float32")
        if self.is_vit:
            # Patch-level mask: a patch is masked when its pixels are (mask
            # patches are whole multiples of the patch size).
            token_mask = self.patchify(mask[..., None])[..., 0]
            sequence = self.encoder.encode_masked(images, token_mask, self.mask_token,
                                                  training=training)
            return self.unpatchify(ops.cast(self.head(sequence), "float32"))
        m = mask[..., None]
        masked = images * (1.0 - m) + 255.0 * self.mask_fill * m
        features = self.feature_map(masked, training=training)
        pixels = tf.nn.depth_to_space(self.head(features), self.stride)
        height, width, _ = self.image_size
        return ops.cast(pixels[:, :height, :width], "float32")

    def compute_ssl_loss(self, images, training=True):
        mask = self.pixel_mask(ops.shape(images)[0])
        predictions = self.forward(images, mask, training=training)
        target = ops.cast(images, "float32") / 255.0
        per_pixel = ops.mean(ops.abs(predictions - target), axis=-1)
        loss = ops.sum(per_pixel * mask) / ops.maximum(ops.sum(mask), 1.0)
        return loss, {}

    def reconstruct(self, images):
        """`(images, masked, reconstructed)` as float numpy arrays in [0, 255]:
        the masked images (hidden pixels black) and the predictions pasted
        into the hidden pixels."""
        images = ops.cast(ops.convert_to_tensor(images), "float32")
        mask = self.pixel_mask(ops.shape(images)[0])
        predictions = self.forward(images, mask, training=False)
        m = mask[..., None]
        pixels = images / 255.0

        def to_numpy(x):
            return np.clip(ops.convert_to_numpy(x) * 255.0, 0, 255)

        return (to_numpy(pixels), to_numpy(pixels * (1.0 - m)),
                to_numpy(pixels * (1.0 - m) + predictions * m))

    def get_config(self):
        config = super().get_config()
        config.update({
            "mask_ratio": self.mask_ratio,
            "mask_patch_size": self.mask_patch_size,
            "seed": self.seed,
        })
        return config
