"""Argument checks shared by the backbones."""

import numbers


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


def check_video_shape(input_shape, argument="input_shape"):
    """Validate a video `input_shape` (frames, H, W, C) and return it as a tuple."""
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{argument}` must be (frames, height, width, channels) with known sizes, "
            f"got {input_shape!r}."
        ) from None
    if len(shape) != 4:
        hint = (" For a clip of images of shape (H, W, C), add the frames axis: "
                "(frames, H, W, C)." if len(shape) == 3 else "")
        raise ValueError(
            f"`{argument}` must be (frames, height, width, channels), got {input_shape!r} "
            f"(rank {len(shape)}).{hint}"
        )
    if min(shape) < 1:
        raise ValueError(
            f"`{argument}` must have at least one frame, row, column and channel, got {shape}."
        )
    return shape


def tubelet_size(tubelet, argument="tubelet"):
    """Return `tubelet` as a (t, h, w) tuple of positive integers, or raise
    a ValueError naming `argument`."""
    values = tuple(tubelet) if isinstance(tubelet, (tuple, list)) else (tubelet,)
    if len(values) != 3 or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1
            for s in values):
        raise ValueError(
            f"`{argument}` must be three positive integers (frames, height, width), got "
            f"{tubelet!r}."
        )
    return tuple(int(s) for s in values)


def check_tubelet(video_shape, tubelet, argument="tubelet"):
    """Return `tubelet` as a (t, h, w) tuple; raise a ValueError unless it
    divides the frames, height and width of `video_shape` (T, H, W, ...)."""
    tubelet = tubelet_size(tubelet, argument)
    units = {"frames": "frames", "height": "rows", "width": "columns"}
    for axis, size, step in zip(("frames", "height", "width"), video_shape[:3], tubelet):
        if size < step:
            raise ValueError(
                f"The clips have {size} {units[axis]}, fewer than the {step} of one tubelet "
                f"(`{argument}`={tubelet}, clip shape {tuple(video_shape)})."
            )
        if size % step:
            raise ValueError(
                f"`{argument}`={tubelet} does not divide the clip's {axis} ({size}; clip "
                f"shape {tuple(video_shape)}): choose a tubelet whose frames, height and "
                "width divide the clip's."
            )
    return tubelet
