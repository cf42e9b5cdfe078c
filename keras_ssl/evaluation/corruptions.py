"""Common-corruption robustness: corrupted test images and accuracy under them.

The corruptions and their five severities follow Hendrycks & Dietterich
(2019), "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations" (ICLR), with the parameters of its CIFAR-10-C set, which is
meant for 32x32 images. Accuracy averaged over corruptions and severities
measures how well a classifier holds up to noise, blur and digital
distortions it was not trained on.

Implemented (`CORRUPTIONS`): the paper's gaussian, shot and impulse noise,
defocus, motion and zoom blur, brightness, contrast, elastic transform,
pixelation and JPEG compression, and its extra speckle noise, gaussian blur
and saturation. Left out: glass blur (a serial loop of per-pixel swaps whose
result depends on the swap order; nothing in TensorFlow expresses it as a
batched op) and the weather corruptions snow, frost, fog and spatter (they
need photographs of frost, a fractal generator and several OpenCV filters,
and mean little on 28x28 grayscale images).

Grayscale images (one channel) get every corruption except `saturate`,
which needs color: asking for it raises, and `corruptions="all"` skips it.
"""

import numbers
import sys

import numpy as np

from keras_ssl.utils import check_images

# Severity parameters for severities 1..5: the CIFAR-10-C settings of
# Hendrycks & Dietterich (2019), from the corruption code released with the
# paper (its CIFAR-10 variant, for 32x32 images). Intensities are in [0, 1]
# units, as there; images are scaled to [0, 1] and back around each
# corruption.
SEVERITY_PARAMETERS = {
    # standard deviation of additive gaussian noise
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    # photons per unit intensity (Poisson noise; fewer photons, more noise)
    "shot_noise": (500, 250, 100, 75, 50),
    # fraction of values set to 0 or 1 (salt and pepper, half each)
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    # (disk radius, sigma of the gaussian that anti-aliases the disk), pixels
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    # (radius, sigma) of ImageMagick's one-sided motion blur, pixels; the
    # direction is uniform in [-45, 45] degrees, one per image
    "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
    # stop of np.arange(1, stop, 0.01): the zooms averaged; as in the paper's
    # code, float rounding keeps the stop itself for 1.06 and 1.11 only
    "zoom_blur": (1.06, 1.11, 1.16, 1.21, 1.26),
    # added to the HSV value
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    # factor on each pixel's deviation from its image's channel mean
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    # (alpha, sigma, affine shift) as fractions of the image side: the
    # paper's code multiplies them by 32. Elastic displacement of alpha times
    # uniform noise smoothed by a gaussian of width sigma, after a random
    # affine map moving three points by up to the affine shift each. The
    # affine part shrinks with severity while the elastic part grows, so the
    # pixel change does not always grow with severity.
    "elastic_transform": ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06),
                          (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)),
    # side of the downsampled image, as a fraction of the side
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    # JPEG quality
    "jpeg_compression": (80, 65, 58, 50, 40),
    # standard deviation of multiplicative gaussian noise
    "speckle_noise": (0.06, 0.1, 0.12, 0.16, 0.2),
    # sigma of the gaussian, pixels
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
    # (factor, offset) on the HSV saturation: 1-2 desaturate, 3-5 saturate
    "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
}
# Where this module deviates from the paper's code, and why:
# * Outputs stay float32 (no rounding between steps); CIFAR-10-C stored
#   uint8 images, and its motion blur, pixelation and JPEG steps passed
#   through uint8 image files.
# * Blur and motion radii are in pixels and are not rescaled to the image
#   size, so 28x28 and 64x64 images get the 32x32 settings (relatively
#   weaker blurs at 64x64); pixelate, zoom blur and elastic transform are
#   relative to the image side, as there.
# * Elastic transform reads the image once, at the composed affine and
#   elastic displacement, mirroring about the edge pixels outside (the
#   paper's code resamples twice, which blurs a little more).
# * On grayscale images brightness adds to the intensity (the HSV value of
#   a gray pixel is its intensity); saturate is color-only.
# Borders follow each original filter: edge pixels repeated for gaussian
# and motion blur, mirrored about the edge pixel for defocus blur.

CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "motion_blur",
    "zoom_blur", "brightness", "contrast", "elastic_transform", "pixelate",
    "jpeg_compression", "speckle_noise", "gaussian_blur", "saturate",
)
_COLOR_ONLY = ("saturate",)
_SEVERITIES = (1, 2, 3, 4, 5)


# === Argument checks ===

def _check_corruption(corruption, name="corruption"):
    if not isinstance(corruption, str) or corruption not in CORRUPTIONS:
        raise ValueError(
            f"Unknown `{name}` {corruption!r}. Expected one of: "
            + ", ".join(repr(c) for c in CORRUPTIONS) + ".")
    return corruption


def _check_severity(severity, name="severity"):
    if (isinstance(severity, bool) or not isinstance(severity, numbers.Integral)
            or severity not in _SEVERITIES):
        raise ValueError(
            f"`{name}` must be an int from 1 to 5 (one of "
            + ", ".join(str(s) for s in _SEVERITIES) + f"), got {severity!r}.")
    return int(severity)


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"`seed` must be an int, got {seed!r}.")
    return int(seed)


def _check_pixels(images, name):
    """Rank 4, uint8 or float, 1 or 3 channels, at least 3x3 pixels."""
    check_images(images, name)
    _, height, width, channels = tuple(images.shape)
    if channels not in (1, 3):
        raise ValueError(
            f"`{name}` must have 1 (grayscale) or 3 (color) channels, got shape "
            f"{tuple(images.shape)}.")
    if min(height, width) < 3:
        raise ValueError(
            f"`{name}` must be at least 3x3 pixels, got shape {tuple(images.shape)}.")
    return int(channels)


def _check_color(corruption, channels, name, argument="corruption"):
    if corruption in _COLOR_ONLY and channels != 3:
        raise ValueError(
            f"`{argument}` {corruption!r} needs color images (3 channels); `{name}` "
            f"has {channels} channel. Corruptions for grayscale images: "
            + ", ".join(repr(c) for c in CORRUPTIONS if c not in _COLOR_ONLY) + ".")


# === Filters ===
# Kernels are small numpy constants built once per call; the filtering runs
# as batched TensorFlow ops.

def _border_indices(size, before, after, mode):
    """Indices that extend an axis of `size` by `before` / `after` entries:
    "edge" repeats the end entries, "mirror" reflects about them (d c b |
    a b c d | c b a), "symmetric" about the border (b a | a b c d | d c)."""
    i = np.arange(-before, size + after)
    if mode == "edge" or size == 1:
        return np.clip(i, 0, size - 1)
    if mode == "mirror":
        period = 2 * size - 2
        i = np.mod(i, period)
        return np.where(i >= size, period - i, i)
    period = 2 * size
    i = np.mod(i, period)
    return np.where(i >= size, period - 1 - i, i)


def _filter2d(x, kernel, mode):
    """Correlate each channel of `x` (N, H, W, C) with the 2-D `kernel`
    (a depthwise convolution), extending the borders by `mode`."""
    import tensorflow as tf

    kh, kw = kernel.shape
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    x = tf.gather(x, _border_indices(height, kh // 2, kh - 1 - kh // 2, mode), axis=1)
    x = tf.gather(x, _border_indices(width, kw // 2, kw - 1 - kw // 2, mode), axis=2)
    weights = np.tile(kernel.astype("float32")[:, :, None, None], (1, 1, channels, 1))
    return tf.nn.depthwise_conv2d(x, weights, strides=(1, 1, 1, 1), padding="VALID")


def _gaussian_kernel_1d(sigma, truncate):
    """scipy.ndimage's sampled gaussian: radius int(truncate * sigma + 0.5)."""
    radius = int(truncate * sigma + 0.5)
    t = np.arange(-radius, radius + 1, dtype="float64")
    kernel = np.exp(-0.5 * (t / sigma) ** 2)
    return kernel / kernel.sum()


def _gaussian_filter(x, sigma, mode, truncate=4.0):
    kernel = _gaussian_kernel_1d(sigma, truncate)
    x = _filter2d(x, kernel[:, None], mode)
    return _filter2d(x, kernel[None, :], mode)


def _defocus_kernel(radius, alias_blur):
    """A disk of `radius` pixels blurred by a 3x3 gaussian (OpenCV's
    `GaussianBlur` kernel of sigma `alias_blur`), cropped to its support."""
    t = np.arange(-8, 9)
    yy, xx = np.meshgrid(t, t, indexing="ij")
    disk = ((xx ** 2 + yy ** 2) <= radius ** 2).astype("float64")
    disk /= disk.sum()
    g = np.exp(-np.arange(-1, 2) ** 2 / (2.0 * alias_blur ** 2))
    g /= g.sum()
    padded = np.pad(disk, 1)
    blurred = sum(g[i] * g[j] * padded[i:i + 17, j:j + 17] for i in range(3) for j in range(3))
    rows = np.flatnonzero(blurred.sum(axis=1) > 0)
    keep = slice(rows.min(), rows.max() + 1)  # symmetric about the center
    return blurred[keep, keep]


def _sample_bilinear(x, ys, xs):
    """`x` (N, H, W, C) read at real-valued positions `ys`, `xs` (N, H, W)
    with bilinear interpolation, mirroring about the edge pixels outside.

    keras.ops.image.map_coordinates needs the size of every axis, and batches
    inside tf.data have no static batch size, hence this short gather."""
    import tensorflow as tf

    height, width = x.shape[1], x.shape[2]
    n = tf.shape(x)[0]

    def mirror(i, size):
        period = 2 * size - 2
        i = tf.math.floormod(i, period)
        return tf.where(i >= size, period - i, i)

    y0, x0 = tf.floor(ys), tf.floor(xs)
    wy, wx = (ys - y0)[..., None], (xs - x0)[..., None]
    y0, x0 = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)
    flat = tf.reshape(x, (-1, x.shape[3]))
    base = tf.range(n)[:, None, None] * (height * width)

    def read(yi, xi):
        return tf.gather(flat, base + mirror(yi, height) * width + mirror(xi, width))

    top = read(y0, x0) * (1 - wx) + read(y0, x0 + 1) * wx
    bottom = read(y0 + 1, x0) * (1 - wx) + read(y0 + 1, x0 + 1) * wx
    return top * (1 - wy) + bottom * wy


# === Corruptions ===
# Each maps a float32 batch in [0, 1] to the corrupted batch in [0, 1]
# (clipped by the caller), given the severity's parameter and a stateless
# seed (a pair of ints); randomness is drawn for the whole batch at once.

def _gaussian_noise(x, c, seed):
    import tensorflow as tf

    return x + tf.random.stateless_normal(tf.shape(x), seed, stddev=c)


def _shot_noise(x, c, seed):
    import tensorflow as tf

    return tf.random.stateless_poisson(tf.shape(x), seed, lam=x * c, dtype=tf.float32) / c


def _impulse_noise(x, c, seed):
    import tensorflow as tf

    hit_seed, salt_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    hit = tf.random.stateless_uniform(tf.shape(x), hit_seed) < c
    salt = tf.random.stateless_uniform(tf.shape(x), salt_seed) < 0.5
    return tf.where(hit, tf.cast(salt, x.dtype), x)


def _speckle_noise(x, c, seed):
    import tensorflow as tf

    return x + x * tf.random.stateless_normal(tf.shape(x), seed, stddev=c)


def _gaussian_blur(x, c, seed):
    # skimage.filters.gaussian: scipy's kernel, edge pixels repeated.
    return _gaussian_filter(x, c, "edge")


def _defocus_blur(x, c, seed):
    # OpenCV's filter2D reflects about the edge pixel.
    return _filter2d(x, _defocus_kernel(*c), "mirror")


def _motion_blur(x, c, seed):
    """ImageMagick's motion blur: a weighted sum of copies shifted by whole
    pixels along one direction, with weights exp(-i^2 / (2 sigma^2)) for
    i = 0 .. 2 * radius; edge pixels repeated."""
    import keras
    import tensorflow as tf

    radius, sigma = c
    taps = np.arange(2 * int(np.ceil(radius)) + 1, dtype="float64")
    weights = np.exp(-taps ** 2 / (2.0 * sigma ** 2))
    weights /= weights.sum()
    n = tf.shape(x)[0]
    angle = tf.random.stateless_uniform((n,), seed, -45.0, 45.0) * (np.pi / 180.0)
    cos, sin = tf.cos(angle), tf.sin(angle)
    ones, zeros = tf.ones_like(angle), tf.zeros_like(angle)
    out = weights[0] * x
    for i, w in zip(taps[1:], weights[1:]):
        # Output pixel (u, v) reads input (u + dx, v + dy).
        dx, dy = tf.round(i * cos), tf.round(i * sin)
        shift = tf.stack([ones, zeros, dx, zeros, ones, dy, zeros, zeros], axis=1)
        out += w * keras.ops.image.affine_transform(
            x, shift, interpolation="nearest", fill_mode="nearest",
            data_format="channels_last")
    return out


def _zoom_sampling(size, zoom):
    """Where the paper's `clipped_zoom` reads its output pixels, as
    (first, step) along an axis of `size`: it crops the central
    ceil(size / zoom) pixels, zooms them with scipy (corner-aligned linear
    interpolation to round(crop * zoom) pixels) and keeps the central
    `size`, which rounds each zoom to whole pixels."""
    crop = int(np.ceil(size / zoom))
    top = (size - crop) // 2
    zoomed = int(round(crop * zoom))
    step = (crop - 1) / (zoomed - 1) if zoomed > 1 else 0.0
    return top + (zoomed - size) // 2 * step, step


def _zoom_blur(x, c, seed):
    """The mean of the image and its central zooms by 1, 1.01, ... ."""
    import tensorflow as tf

    height, width = x.shape[1], x.shape[2]
    n = tf.shape(x)[0]
    zooms = np.arange(1, c, 0.01)
    out = x
    for zoom in zooms:
        # crop_and_resize reads y1 * (H - 1) + i * (y2 - y1) * (H - 1) / (H - 1).
        (y0, dy), (x0, dx) = _zoom_sampling(height, zoom), _zoom_sampling(width, zoom)
        box = [y0 / (height - 1), x0 / (width - 1), (y0 + dy * (height - 1)) / (height - 1),
               (x0 + dx * (width - 1)) / (width - 1)]
        boxes = tf.tile(tf.constant([box], tf.float32), (n, 1))
        out += tf.image.crop_and_resize(x, boxes, tf.range(n), (height, width))
    return out / (len(zooms) + 1)


def _brightness(x, c, seed):
    import tensorflow as tf

    if x.shape[-1] == 1:
        return x + c
    hsv = tf.image.rgb_to_hsv(x)
    h, s, v = tf.unstack(hsv, axis=-1)
    return tf.image.hsv_to_rgb(tf.stack([h, s, tf.clip_by_value(v + c, 0.0, 1.0)], axis=-1))


def _saturate(x, c, seed):
    import tensorflow as tf

    factor, offset = c
    h, s, v = tf.unstack(tf.image.rgb_to_hsv(x), axis=-1)
    s = tf.clip_by_value(s * factor + offset, 0.0, 1.0)
    return tf.image.hsv_to_rgb(tf.stack([h, s, v], axis=-1))


def _contrast(x, c, seed):
    import tensorflow as tf

    means = tf.reduce_mean(x, axis=(1, 2), keepdims=True)
    return (x - means) * c + means


def _box_weights(size, small):
    """The (small, size) matrix of PIL's box filter shrinking an axis: each
    output pixel is the plain mean of the input pixels whose centers fall in
    its box. TensorFlow's "area" resize weights pixels by overlap instead,
    which pixelates visibly less at these fractional scales."""
    scale = size / small
    centers = (np.arange(size) + 0.5)[None] / scale - (np.arange(small) + 0.5)[:, None]
    inside = ((centers > -0.5) & (centers <= 0.5)).astype("float32")
    return inside / inside.sum(axis=1, keepdims=True)


def _pixelate(x, c, seed):
    import tensorflow as tf

    height, width = x.shape[1], x.shape[2]
    rows, cols = _box_weights(height, int(height * c)), _box_weights(width, int(width * c))
    small = tf.einsum("hH,nHWc,wW->nhwc", rows, x, cols)
    # Enlarging with PIL's box filter repeats each pixel: nearest neighbour.
    return tf.image.resize(small, (height, width), method="nearest")


def _jpeg_compression(x, c, seed):
    import tensorflow as tf

    # JPEG encoding takes one image at a time (adjust_jpeg_quality is 3-D
    # only); map_fn keeps the loop inside the graph.
    pixels = tf.cast(tf.round(x * 255.0), tf.uint8)
    compressed = tf.map_fn(lambda image: tf.image.adjust_jpeg_quality(image, c), pixels,
                           fn_output_signature=tf.TensorSpec(x.shape[1:], tf.uint8))
    return tf.cast(compressed, tf.float32) / 255.0


def _elastic_transform(x, c, seed):
    """A random affine map (three points moved by up to `shift`), then
    displacement fields of smoothed uniform noise; one bilinear resampling
    of the composed map, mirrored about the edge pixels."""
    import tensorflow as tf

    height, width = x.shape[1], x.shape[2]
    side = min(height, width)
    alpha, sigma, shift = (p * side for p in c)
    n = tf.shape(x)[0]
    affine_seed, field_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    cx, cy, half = float(width // 2), float(height // 2), float(side // 3)
    # (x, y) points; the output point where the i-th lands reads the i-th.
    points = tf.constant([[cx + half, cy + half], [cx + half, cy - half],
                          [cx - half, cy - half]], tf.float32)
    moved = points + tf.random.stateless_uniform((n, 3, 2), affine_seed, -shift, shift)
    # The affine map from output to input positions: moved -> points.
    homogeneous = tf.concat([moved, tf.ones((n, 3, 1))], axis=2)
    matrix = tf.linalg.solve(homogeneous, tf.tile(points[None], (n, 1, 1)))  # (n, 3, 2)
    ys, xs = np.meshgrid(np.arange(height, dtype="float32"), np.arange(width, dtype="float32"),
                         indexing="ij")
    ys = tf.tile(tf.constant(ys)[None], (n, 1, 1))
    xs = tf.tile(tf.constant(xs)[None], (n, 1, 1))
    if alpha > 0:
        noise = tf.random.stateless_uniform((n, height, width, 2), field_seed, -1.0, 1.0)
        # skimage's gaussian(mode="reflect", truncate=3) reflects about the border.
        field = _gaussian_filter(noise, sigma, "symmetric", truncate=3.0) * alpha
        ys, xs = ys + field[..., 0], xs + field[..., 1]
    source_x = matrix[:, None, None, 0, 0] * xs + matrix[:, None, None, 1, 0] * ys \
        + matrix[:, None, None, 2, 0]
    source_y = matrix[:, None, None, 0, 1] * xs + matrix[:, None, None, 1, 1] * ys \
        + matrix[:, None, None, 2, 1]
    return _sample_bilinear(x, source_y, source_x)


_FUNCTIONS = {
    "gaussian_noise": _gaussian_noise,
    "shot_noise": _shot_noise,
    "impulse_noise": _impulse_noise,
    "defocus_blur": _defocus_blur,
    "motion_blur": _motion_blur,
    "zoom_blur": _zoom_blur,
    "brightness": _brightness,
    "contrast": _contrast,
    "elastic_transform": _elastic_transform,
    "pixelate": _pixelate,
    "jpeg_compression": _jpeg_compression,
    "speckle_noise": _speckle_noise,
    "gaussian_blur": _gaussian_blur,
    "saturate": _saturate,
}


def _corrupt_batch(images, corruption, severity, seed):
    """Corrupt a batch tensor (static height, width and channels) with a
    stateless `seed` tensor of shape (2,); graph- and eager-safe."""
    import tensorflow as tf

    x = tf.cast(images, tf.float32) / 255.0
    parameter = SEVERITY_PARAMETERS[corruption][severity - 1]
    x = _FUNCTIONS[corruption](x, parameter, seed)
    return tf.clip_by_value(x, 0.0, 1.0) * 255.0


def corrupt(images, corruption, severity, seed=0):
    """Corrupted copies of a batch of images (Hendrycks & Dietterich, 2019).

    The parameters of each severity are the paper's CIFAR-10-C settings
    (`SEVERITY_PARAMETERS`), meant for 32x32 images. All images are
    corrupted together with batched TensorFlow ops; random corruptions
    draw per-image noise from a stateless generator, so the same `seed`
    gives the same output.

    >>> import numpy as np
    >>> images = np.full((2, 8, 8, 1), 128, dtype="uint8")
    >>> noisy = corrupt(images, "gaussian_noise", severity=3)
    >>> noisy.shape, noisy.dtype, bool((noisy != 128).any())
    ((2, 8, 8, 1), dtype('float32'), True)

    Args:
        images: (N, H, W, C) images with C = 1 (grayscale) or 3 (color),
            uint8 or float with values in [0, 255].
        corruption: one of `CORRUPTIONS`; `"saturate"` needs color images.
        severity: an int from 1 (mildest) to 5.
        seed: an int; the noise, blur directions and elastic maps follow
            from it.

    Returns:
        A float32 numpy array of the shape of `images`, values in [0, 255].
    """
    import tensorflow as tf

    _check_corruption(corruption)
    severity = _check_severity(severity)
    seed = _check_seed(seed)
    channels = _check_pixels(images, "images")
    _check_color(corruption, channels, "images")
    if len(images) == 0:
        return np.zeros(tuple(images.shape), dtype="float32")
    out = _corrupt_batch(tf.convert_to_tensor(images), corruption, severity,
                         tf.constant([seed, 0], tf.int64))
    return out.numpy()


# === Accuracy under corruption ===

def _check_corruption_list(corruptions, channels):
    if isinstance(corruptions, str) and corruptions == "all":
        return [c for c in CORRUPTIONS if channels == 3 or c not in _COLOR_ONLY]
    names = [corruptions] if isinstance(corruptions, str) else corruptions
    try:
        names = list(names)
    except TypeError:
        names = None
    if not names:
        raise ValueError(
            "`corruptions` must be 'all', a corruption name or a non-empty list of "
            f"them, got {corruptions!r}. Corruptions: " + ", ".join(CORRUPTIONS) + ".")
    for name in names:
        _check_corruption(name, "corruptions")
        _check_color(name, channels, "data", "corruptions")
    return names


def _check_severities(severities):
    if isinstance(severities, numbers.Integral) and not isinstance(severities, bool):
        severities = (severities,)
    try:
        severities = list(severities)
    except TypeError:
        severities = None
    if not severities:
        raise ValueError(
            "`severities` must be a non-empty list of ints from 1 to 5, got "
            f"{severities!r}.")
    return [_check_severity(s, "severities") for s in severities]


def _resolve_verbose(verbose):
    if verbose == "auto":
        interactive = sys.stdout.isatty() or "ipykernel" in sys.modules
        return 1 if interactive else 2  # one line at the end in logs
    if verbose in (0, 1, 2):  # also False, True
        return int(verbose)
    raise ValueError(f"`verbose` must be 'auto', 0, 1 or 2, got {verbose!r}.")


def corruption_accuracy(model, data, corruptions="all", severities=(1, 3, 5), batch_size=256,
                        seed=0, verbose="auto"):
    """Accuracy of a classifier on clean and corrupted test images.

    Each batch is corrupted on the fly inside a `tf.data` pipeline (the
    corrupted copies are never all in memory) while the model predicts the
    previous one. The noise of batch `i` is drawn from `(seed, i)`, so a
    run is reproducible, and with a single batch the corrupted images are
    `corrupt(x_test, corruption, severity, seed)`.

    Example:

    >>> import keras, numpy as np
    >>> x = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 1)).astype("uint8")
    >>> y = np.arange(16) % 2
    >>> inputs = keras.Input((8, 8, 1))
    >>> pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(pooled))
    >>> rows = corruption_accuracy(model, (x, y), ["contrast", "pixelate"],
    ...                            severities=(1, 5), verbose=0)
    >>> [(r["corruption"], r["severity"]) for r in rows]
    [('clean', 0), ('contrast', 1), ('contrast', 5), ('pixelate', 1), ('pixelate', 5)]
    >>> 0 <= mean_corruption_accuracy(rows) <= 1
    True

    Args:
        model: a classifier mapping raw images ((N, H, W, C), float in
            [0, 255]) to (N, K) class probabilities or logits, such as the
            model `fine_tune` returns.
        data: `(x_test, y_test)`: images as `corrupt` takes them and
            integer labels in [0, K).
        corruptions: `"all"` (every name in `CORRUPTIONS`; on grayscale
            images all but `"saturate"`), one name or a list of names.
        severities: ints from 1 to 5 evaluated for each corruption.
        batch_size: images corrupted and classified at a time. Results
            depend on it through the noise drawn per batch.
        seed: an int; the corruptions' randomness follows from it.
        verbose: `"auto"` (a progress bar over the settings when the output
            is a terminal or a notebook, one line at the end otherwise), 0
            (silent), 1 (bar) or 2 (one line).

    Returns:
        A list of dicts `{"corruption", "severity", "accuracy"}`: first the
        clean images (`"clean"`, severity 0), then each corruption at each
        severity, in the order given. `mean_corruption_accuracy(rows)`
        averages the corrupted rows.
    """
    import keras
    import tensorflow as tf

    from keras_ssl.evaluation.probes import _check_pair

    x, y = _check_pair("data", data)
    channels = _check_pixels(x, "data[0]")
    names = _check_corruption_list(corruptions, channels)
    severities = _check_severities(severities)
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
            or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}.")
    seed = _check_seed(seed)
    verbose = _resolve_verbose(verbose)
    if not hasattr(model, "predict"):
        raise TypeError(f"`model` must be a Keras model, got {type(model).__name__}.")
    probe = model(tf.cast(tf.convert_to_tensor(x[:1]), tf.float32), training=False)
    if len(probe.shape) != 2 or probe.shape[-1] < 2:
        raise ValueError(
            "`model` must map images to (N, K) class probabilities or logits with K >= 2 "
            f"classes; it gives shape {tuple(probe.shape)} for one image.")
    num_classes = int(probe.shape[-1])
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(
            f"`data` labels must lie in [0, {num_classes}) for a model with {num_classes} "
            f"outputs; got labels from {y.min()} to {y.max()}.")

    batches = tf.data.Dataset.from_tensor_slices(np.asarray(x)).batch(batch_size).enumerate()
    settings = [("clean", 0)] + [(name, s) for name in names for s in severities]
    progress = keras.utils.Progbar(len(settings), unit_name="setting", verbose=verbose,
                                   stateful_metrics=["accuracy"]) if verbose else None
    rows = []
    for step, (name, severity) in enumerate(settings):
        if name == "clean":
            def apply(index, images):
                return tf.cast(images, tf.float32)
        else:
            def apply(index, images, name=name, severity=severity):
                return _corrupt_batch(images, name, severity,
                                      tf.stack([tf.constant(seed, tf.int64), index]))
        stream = batches.map(apply, num_parallel_calls=tf.data.AUTOTUNE)
        predictions = model.predict(stream.prefetch(tf.data.AUTOTUNE), verbose=0)
        accuracy = float(np.mean(np.argmax(predictions, axis=-1) == y))
        rows.append({"corruption": name, "severity": severity, "accuracy": accuracy})
        if progress is not None:
            progress.update(step + 1, values=[("accuracy", accuracy)])
    return rows


def mean_corruption_accuracy(rows):
    """Mean accuracy over the corrupted settings of `corruption_accuracy`'s
    rows (every row but the clean one): one number to compare models by.

    >>> mean_corruption_accuracy([
    ...     {"corruption": "clean", "severity": 0, "accuracy": 0.9},
    ...     {"corruption": "contrast", "severity": 1, "accuracy": 0.75},
    ...     {"corruption": "contrast", "severity": 5, "accuracy": 0.25}])
    0.5

    Args:
        rows: the list of dicts `corruption_accuracy` returns.

    Returns:
        A float in [0, 1].
    """
    try:
        values = [float(row["accuracy"]) for row in rows if row["corruption"] != "clean"]
    except (KeyError, TypeError) as error:
        raise ValueError(
            "`rows` must be dicts with 'corruption' and 'accuracy' keys, as "
            f"corruption_accuracy returns; got {rows!r:.200}.") from error
    if not values:
        raise ValueError("`rows` holds no corrupted settings (only clean rows or none).")
    return float(np.mean(values))
