"""Split videos into flattened tubelets, and put them back together."""

import keras
from keras import ops

from keras_ssl.backbones.validation import check_tubelet
from keras_ssl.backbones.validation import check_video_shape
from keras_ssl.backbones.validation import tubelet_size


def _check_video_batch(shape, tubelet, layer):
    if len(shape) != 5:
        raise ValueError(
            f"{layer} expects videos of rank 5 (batch, frames, height, width, channels), "
            f"got shape {tuple(shape)}."
        )
    if any(d is None for d in shape[1:]):
        raise ValueError(
            f"{layer} needs known frames, height, width and channels, got shape "
            f"{tuple(shape)}."
        )
    check_tubelet(tuple(shape[1:]), tubelet)


@keras.saving.register_keras_serializable(package="keras_ssl")
class TubeletPatchify(keras.layers.Layer):
    """`(N, T, H, W, C)` videos -> `(N, (T/t)(H/h)(W/w), t * h * w * C)` tubelets.

    The video counterpart of `Patchify`: the pixels of each t x h x w
    tubelet, flattened (frames, rows, columns, channels; row-major), in the
    token order of `backbones.VideoViT` (time-major: every tubelet of the
    first t frames row by row, then the next t frames). The targets of
    VideoMAE (Tong et al. 2022). A pure reshape and transpose;
    `TubeletUnpatchify` is the exact inverse.

    Args:
        tubelet: (t, h, w); must divide the frames, height and width.

    Example:

    >>> import numpy as np
    >>> videos = np.arange(2 * 4 * 8 * 8, dtype="float32").reshape(2, 4, 8, 8, 1)
    >>> tubes = TubeletPatchify((2, 4, 4))(videos)
    >>> tuple(tubes.shape)
    (2, 8, 32)
    >>> bool(np.all(tubes[0, 5].numpy() == videos[0, 2:4, :4, 4:8].reshape(-1)))
    True
    """

    def __init__(self, tubelet, **kwargs):
        super().__init__(**kwargs)
        self.tubelet = tubelet_size(tubelet)

    def build(self, input_shape):
        _check_video_batch(tuple(input_shape), self.tubelet, "TubeletPatchify")

    def call(self, videos):
        videos = ops.convert_to_tensor(videos)
        _check_video_batch(tuple(videos.shape), self.tubelet, "TubeletPatchify")
        _, frames, height, width, channels = videos.shape
        t, h, w = self.tubelet
        x = ops.reshape(videos, (-1, frames // t, t, height // h, h, width // w, w, channels))
        x = ops.transpose(x, (0, 1, 3, 5, 2, 4, 6, 7))
        count = (frames // t) * (height // h) * (width // w)
        return ops.reshape(x, (-1, count, t * h * w * channels))

    def compute_output_shape(self, input_shape):
        _check_video_batch(tuple(input_shape), self.tubelet, "TubeletPatchify")
        _, frames, height, width, channels = input_shape
        t, h, w = self.tubelet
        count = (frames // t) * (height // h) * (width // w)
        return (input_shape[0], count, t * h * w * channels)

    def get_config(self):
        config = super().get_config()
        config.update({"tubelet": list(self.tubelet)})
        return config


@keras.saving.register_keras_serializable(package="keras_ssl")
class TubeletUnpatchify(keras.layers.Layer):
    """Inverse of `TubeletPatchify`: `(N, P, t * h * w * C)` -> `(N, T, H, W, C)`.

    Args:
        tubelet: (t, h, w).
        video_shape: (T, H, W, C) of the videos; `tubelet` must divide T,
            H and W.

    Example:

    >>> import numpy as np
    >>> x = np.arange(2 * 4 * 8 * 8, dtype="float32").reshape(2, 4, 8, 8, 1)
    >>> y = TubeletUnpatchify((2, 4, 4), (4, 8, 8, 1))(TubeletPatchify((2, 4, 4))(x))
    >>> bool(np.all(np.asarray(y) == x))
    True
    """

    def __init__(self, tubelet, video_shape, **kwargs):
        super().__init__(**kwargs)
        self.video_shape = check_video_shape(video_shape, argument="video_shape")
        self.tubelet = check_tubelet(self.video_shape, tubelet)

    def _check_tubelets(self, shape):
        t, h, w = self.tubelet
        frames, height, width, channels = self.video_shape
        expected = ((frames // t) * (height // h) * (width // w), t * h * w * channels)
        if len(shape) != 3 or tuple(
            got for got, want in zip(shape[1:], expected) if got not in (None, want)
        ):
            raise ValueError(
                f"TubeletUnpatchify(tubelet={self.tubelet}, video_shape={self.video_shape}) "
                f"expects tubelets of shape (batch, {expected[0]}, {expected[1]}), got shape "
                f"{tuple(shape)}."
            )

    def build(self, input_shape):
        self._check_tubelets(tuple(input_shape))

    def call(self, tubes):
        tubes = ops.convert_to_tensor(tubes)
        self._check_tubelets(tuple(tubes.shape))
        t, h, w = self.tubelet
        frames, height, width, channels = self.video_shape
        x = ops.reshape(tubes, (-1, frames // t, height // h, width // w, t, h, w, channels))
        x = ops.transpose(x, (0, 1, 4, 2, 5, 3, 6, 7))
        return ops.reshape(x, (-1, frames, height, width, channels))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(self.video_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"tubelet": list(self.tubelet), "video_shape": list(self.video_shape)})
        return config

