"""Argument checks shared by the backbones."""


def check_input_shape(input_shape, min_size=8, argument="input_shape"):
    """Validate an image `input_shape` (H, W, C) and return it as a tuple."""
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{argument}` must be (height, width, channels) with known sizes, "
            f"got {input_shape!r}."
        ) from None
    if len(shape) != 3:
        raise ValueError(
            f"`{argument}` must be (height, width, channels), got {input_shape!r} "
            f"(rank {len(shape)}). For grayscale images use (H, W, 1)."
        )
    if shape[0] < min_size or shape[1] < min_size or shape[2] < 1:
        raise ValueError(
            f"`{argument}` must have height and width >= {min_size} and at least "
            f"one channel, got {shape}."
        )
    return shape
