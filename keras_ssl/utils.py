"""Small shared helpers: argument checks with clear errors."""

import numbers

import tensorflow as tf

FLOAT_OR_UINT8 = ("uint8", "float16", "bfloat16", "float32", "float64")


def check_choice(name, value, choices):
    """Raise a ValueError naming `name` if `value` is not one of `choices`."""
    if value not in choices:
        raise ValueError(
            f"Unknown {name} {value!r}. Expected one of: "
            + ", ".join(repr(c) for c in choices)
            + "."
        )
    return value


def check_fraction(name, value, low_open=True, high_open=True):
    """Check that `value` lies in (0, 1) (or with closed ends)."""
    ok_low = value > 0 if low_open else value >= 0
    ok_high = value < 1 if high_open else value <= 1
    if not (ok_low and ok_high):
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"`{name}` must lie in {lo}0, 1{hi}, got {value!r}.")
    return float(value)


def _check_pixel_batch(x, name, axes, one_axis_short_hint, allow_unknown_rank):
    """What `check_images` and `check_videos` share: rank `len(axes)`,
    uint8 or float; `one_axis_short_hint` is added when one axis is missing."""
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    described = ", ".join(axes)
    if shape is None or dtype is None:
        raise TypeError(
            f"`{name}` must be an array or tensor of shape ({described}), got an object "
            f"of type {type(x).__name__}."
        )
    if isinstance(shape, tf.TensorShape) and shape.rank is None:
        if allow_unknown_rank:
            return
        rank = None
    else:
        rank = len(shape)
    if rank != len(axes):
        hint = one_axis_short_hint if rank == len(axes) - 1 else ""
        raise ValueError(
            f"`{name}` must have rank {len(axes)} ({described}), got "
            f"shape {tuple(shape) if rank is not None else 'unknown'}.{hint}"
        )
    dtype_name = tf.as_dtype(dtype).name if not isinstance(dtype, str) else dtype
    if dtype_name not in FLOAT_OR_UINT8:
        raise TypeError(
            f"`{name}` must be uint8 (0-255) or float (values in [0, 255]), "
            f"got dtype {dtype_name}."
        )


def check_images(images, name="images", allow_unknown_rank=False):
    """Validate a batch of images: rank 4 (N, H, W, C), uint8 or float dtype.

    Works on numpy arrays, tensors and symbolic tensors (shape checks use the
    static shape). Returns nothing; raises ValueError/TypeError with a message
    that names the argument and what was expected.
    """
    _check_pixel_batch(
        images, name, ("batch", "height", "width", "channels"),
        " For a single grayscale batch of shape (N, H, W), add a channel axis: "
        "images[..., None].", allow_unknown_rank)


def check_videos(videos, name="videos", allow_unknown_rank=False):
    """Validate a batch of videos: rank 5 (N, T, H, W, C), uint8 or float.

    The video counterpart of `check_images` (values in [0, 255]); works on
    numpy arrays, tensors and symbolic tensors.
    """
    _check_pixel_batch(
        videos, name, ("batch", "frames", "height", "width", "channels"),
        " A batch of videos has a frames axis after the batch axis; for grayscale "
        "clips of shape (N, T, H, W) add a channel axis: videos[..., None].",
        allow_unknown_rank)


def check_not_empty(name, array):
    """Raise if `array` has no samples."""
    if len(array) == 0:
        raise ValueError(f"`{name}` is empty: expected at least one sample.")


def check_image_size(image_size, name="image_size"):
    """Return `image_size` (an int or a pair) as a `(height, width)` tuple.

    >>> check_image_size(32), check_image_size((28, 14))
    ((32, 32), (28, 14))
    """
    if isinstance(image_size, numbers.Integral):
        image_size = (image_size, image_size)
    try:
        size = tuple(int(s) for s in image_size)
    except (TypeError, ValueError):
        size = ()
    if len(size) != 2 or min(size) < 1:
        raise ValueError(
            f"`{name}` must be a positive int or a pair (height, width), "
            f"got {image_size!r}."
        )
    return size
