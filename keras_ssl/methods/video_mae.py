"""VideoMAE: a masked autoencoder on video tubelets, with tube masking."""

import keras

from keras_ssl.layers.random_patch_masking import RandomPatchMasking
from keras_ssl.layers.tubelet_patchify import TubeletPatchify
from keras_ssl.layers.tubelet_patchify import TubeletUnpatchify
from keras_ssl.methods.masked_autoencoder import MaskedAutoencoder
from keras_ssl.methods.ssl_method import VideoInputs


@keras.saving.register_keras_serializable(package="keras_ssl")
class VideoMAE(VideoInputs, MaskedAutoencoder):
    """VideoMAE (Tong et al. 2022, "VideoMAE: Masked Autoencoders are
    Data-Efficient Learners for Self-Supervised Video Pre-Training").

    `MaskedAutoencoder` on the tubelet tokens of a `backbones.VideoViT`,
    with the two changes the paper makes for video:

    * tube masking: one random spatial mask per clip, the same in every
      time slice (`layers.RandomPatchMasking(time_slices=...)`), so that a
      hidden patch cannot be copied from the same place in a neighbouring
      frame (frames are highly redundant);
    * an extreme masking ratio, 90% by default.

    The encoder sees the visible tubelets only; the decoder (the MAE's: a
    learned mask token at each hidden position, fixed 3-D sine-cosine
    position embedding, transformer blocks) predicts the pixels of every
    tubelet, and the loss is the mean squared error on the hidden ones,
    against each tubelet's normalised pixels (`norm_pix_loss=True`, the
    paper's target). Encoder, decoder and loss are MaskedAutoencoder's.

    Args:
        encoder: a `keras_ssl.backbones.VideoViT`.
        mask_ratio: fraction of spatial positions hidden in every time
            slice, in (0, 1).
        decoder_dim: token width of the decoder (divisible by 16, for its
            3-D position embedding).
        decoder_layers: transformer blocks in the decoder.
        decoder_heads: attention heads in the decoder.
        norm_pix_loss: normalise each target tubelet by its mean and variance.
        seed: seed of the masking.

    Inputs to `fit`: clips (N, T, H, W, C), uint8 or float in [0, 255], of
    the encoder's input shape. `reconstruct(videos)` gives `(videos, masked,
    reconstructed)` clips in [0, 255].

    Example:

    >>> import numpy as np, keras_ssl
    >>> vit = keras_ssl.backbones.VideoViT(input_shape=(4, 16, 16, 1), tubelet=(2, 8, 8),
    ...                                    hidden_dim=16, num_layers=1, num_heads=2)
    >>> vmae = keras_ssl.methods.VideoMAE(vit, mask_ratio=0.75, decoder_dim=16,
    ...                                   decoder_layers=1, decoder_heads=2)
    >>> vmae.compile(optimizer="auto")
    >>> x = np.random.default_rng(0).integers(0, 255, (4, 4, 16, 16, 1)).astype("uint8")
    >>> sorted(vmae.fit(x, batch_size=4, epochs=1, verbose=0).history)
    ['loss']
    >>> vmae.reconstruct(x[:1])[2].shape
    (1, 4, 16, 16, 1)
    """

    decoder_dim_multiple = 16

    def __init__(self, encoder, mask_ratio=0.9, decoder_dim=64, decoder_layers=2,
                 decoder_heads=4, norm_pix_loss=True, seed=None, **kwargs):
        super().__init__(encoder, mask_ratio=mask_ratio, decoder_dim=decoder_dim,
                         decoder_layers=decoder_layers, decoder_heads=decoder_heads,
                         norm_pix_loss=norm_pix_loss, seed=seed, **kwargs)

    def check_encoder(self, encoder):
        if not all(hasattr(encoder, attr) for attr in
                   ("embed_patches", "encode_tokens", "num_patches", "tubelet", "video_shape")):
            raise ValueError(
                "VideoMAE needs a video encoder with tubelet tokens "
                "(keras_ssl.backbones.VideoViT); got "
                f"{type(encoder).__name__} with input shape {encoder.input_shape}. For "
                "images use MaskedAutoencoder with a ViT."
            )
        if encoder.grid_size[1] * encoder.grid_size[2] < 2:
            raise ValueError(
                "VideoMAE hides tubes of spatial positions and needs at least 2 positions "
                f"a frame; the encoder's tubelet {encoder.tubelet} covers its whole "
                f"{encoder.video_shape[1]}x{encoder.video_shape[2]} frame."
            )

    def build_masking(self, encoder, mask_ratio, seed):
        """Tube masking: the same spatial mask in each of the encoder's
        time slices."""
        return RandomPatchMasking(mask_ratio, seed=seed, time_slices=encoder.grid_size[0],
                                  name="masking")

    def build_pixel_layers(self, encoder):
        patchify = TubeletPatchify(encoder.tubelet, name="patchify", dtype="float32")
        unpatchify = TubeletUnpatchify(encoder.tubelet, encoder.video_shape,
                                       name="unpatchify", dtype="float32")
        t, h, w = encoder.tubelet
        return patchify, unpatchify, t * h * w * encoder.video_shape[-1]

    def check_clip_shape(self, shape):
        """Raise a clear error unless a batch of `shape` holds clips of the
        encoder's input shape (unknown sizes pass)."""
        expected, got = tuple(self.encoder.video_shape), tuple(shape)[1:]
        if any(g is not None and g != e for g, e in zip(got, expected)):
            raise ValueError(
                f"VideoMAE's encoder takes clips of shape {expected} (frames, height, width, "
                f"channels), got clips of shape {got}."
            )
