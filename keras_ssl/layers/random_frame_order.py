"""Sample frames of a clip, shuffle them, and return the order as a label."""

import itertools
import numbers

import keras
import numpy as np
from keras import ops

from keras_ssl.utils import check_videos


def order_classes(frames, reverse_equivalent=True):
    """The permutations of `frames` frames that are told apart, one a class.

    All `frames!` permutations in lexicographic order, or, with
    `reverse_equivalent=True`, one of each pair {p, reversed p}: the one
    that comes first in that order (Lee et al. 2017: a clip and its
    reverse show equally plausible motion, so they are one class; 12
    classes for 4 frames). Returns an int32 array (classes, frames).

    >>> order_classes(3).tolist()
    [[0, 1, 2], [0, 2, 1], [1, 0, 2]]
    """
    table = [p for p in itertools.permutations(range(int(frames)))
             if not reverse_equivalent or p < p[::-1]]
    return np.array(table, dtype="int32")


@keras.saving.register_keras_serializable(package="keras_ssl")
class RandomFrameOrder(keras.layers.Layer):
    """Frame order with label, for order prediction (Misra et al. 2016; Lee
    et al. 2017).

    From each clip, `frames` frames are sampled in temporal order, evenly
    spaced `frame_gap` frames apart from a random start, then shuffled
    with one permutation drawn uniformly among `order_classes(frames,
    reverse_equivalent)`; the label is that permutation's class. With
    `reverse_equivalent=True` (default, Lee et al.'s "order prediction
    network" classes) the permutation or its reverse is applied, at
    random. Randomness is drawn per clip. The shuffling is the pretext task
    itself, so it is applied whatever the `training` flag.

    Args:
        frames: frames sampled a clip (2 to 6; at least 3 with
            `reverse_equivalent`).
        frame_gap: frames between two sampled ones; None: `T // frames`
            for clips of T frames (the samples then span the clip).
        reverse_equivalent: a permutation and its reverse are one class
            (`frames! / 2` classes) rather than two (`frames!`).
        seed: integer seed of the layer's `keras.random.SeedGenerator`.

    Input: clips `(N, T, H, W, C)` with a known T >= `frames`. Output:
    `(shuffled, labels)`: shuffled frames `(N, frames, H, W, C)` in the
    layer's compute dtype and int32 labels (N,), where output frame i is
    sampled frame `permutation[i]` (`permutations[label]`, or its reverse).

    Example:

    >>> import numpy as np
    >>> clips = np.arange(8, dtype="float32").reshape(1, 8, 1, 1, 1) * np.ones((2, 8, 1, 1, 1))
    >>> layer = RandomFrameOrder(frames=4, seed=0)
    >>> shuffled, labels = layer(clips)
    >>> tuple(shuffled.shape), layer.num_classes
    ((2, 4, 1, 1, 1), 12)
    >>> np.diff(np.sort(shuffled.numpy()[0].ravel())).tolist()  # evenly spaced samples
    [2.0, 2.0, 2.0]
    """

    def __init__(self, frames=4, frame_gap=None, reverse_equivalent=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        low = 3 if reverse_equivalent else 2
        if not isinstance(frames, numbers.Integral) or isinstance(frames, bool) or not (
                low <= frames <= 6):
            raise ValueError(
                f"`frames` must be an integer from {low} to 6"
                f"{' with reverse_equivalent=True' if reverse_equivalent else ''}, got "
                f"{frames!r}."
            )
        if frame_gap is not None and (not isinstance(frame_gap, numbers.Integral)
                                      or isinstance(frame_gap, bool) or frame_gap < 1):
            raise ValueError(f"`frame_gap` must be None or a positive integer, got {frame_gap!r}.")
        self.frames = int(frames)
        self.frame_gap = None if frame_gap is None else int(frame_gap)
        self.reverse_equivalent = bool(reverse_equivalent)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.permutations = order_classes(self.frames, self.reverse_equivalent)
        self.num_classes = len(self.permutations)

    def gap(self, clip_frames):
        """Frames between two sampled ones in clips of `clip_frames` frames
        (raises a clear error when the clips are too short)."""
        if clip_frames < self.frames:
            raise ValueError(
                f"Frame order prediction samples `frames`={self.frames} frames a clip, but the "
                f"clips have {clip_frames} frames."
            )
        gap = self.frame_gap or clip_frames // self.frames
        if (self.frames - 1) * gap + 1 > clip_frames:
            raise ValueError(
                f"`frames`={self.frames} frames `frame_gap`={gap} apart span "
                f"{(self.frames - 1) * gap + 1} frames, more than the clips' {clip_frames}."
            )
        return gap

    def call(self, videos):
        check_videos(videos, name="inputs", allow_unknown_rank=True)
        clip_frames = videos.shape[1]
        if clip_frames is not None:
            gap = self.gap(int(clip_frames))  # clips too short: a clear error
        else:  # a step traced for clips of varying length
            clip_frames = ops.shape(videos)[1]
            gap = self.frame_gap or clip_frames // self.frames
        videos = ops.cast(videos, self.compute_dtype)
        batch = ops.shape(videos)[0]
        starts = clip_frames - (self.frames - 1) * gap
        noise = keras.random.uniform((batch,), seed=self.seed_generator)
        start = ops.minimum(ops.cast(noise * ops.cast(starts, "float32"), "int32"), starts - 1)
        labels = keras.random.randint((batch,), 0, self.num_classes, seed=self.seed_generator,
                                      dtype="int32")
        table = ops.convert_to_tensor(self.permutations)
        order = ops.take(table, labels, axis=0)
        if self.reverse_equivalent:
            flip = keras.random.randint((batch, 1), 0, 2, seed=self.seed_generator, dtype="int32")
            order = ops.where(ops.equal(flip, 1), ops.flip(order, axis=1), order)
        steps = ops.cast(gap, "int32") * ops.arange(self.frames, dtype="int32")
        positions = start[:, None] + steps[None, :]
        picked = ops.take_along_axis(positions, order, axis=1)
        shuffled = ops.take_along_axis(videos, picked[:, :, None, None, None], axis=1)
        return shuffled, labels

    def compute_output_shape(self, input_shape):
        return ((input_shape[0], self.frames) + tuple(input_shape[2:]), (input_shape[0],))

    def get_config(self):
        config = super().get_config()
        config.update({"frames": self.frames, "frame_gap": self.frame_gap,
                       "reverse_equivalent": self.reverse_equivalent, "seed": self.seed})
        return config
