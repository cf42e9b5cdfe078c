import io

import keras
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from keras_ssl import evaluation
from keras_ssl.evaluation import corruptions
from tests.testing import structured_images

RANDOM = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "motion_blur",
          "elastic_transform")


def mad(a, b):
    return float(np.mean(np.abs(np.asarray(a, "float64") - np.asarray(b, "float64"))))


@pytest.mark.parametrize("channels", [1, 3])
def test_each_corruption_changes_images_more_with_severity(channels):
    images = structured_images(4, 32, channels, seed=0)
    names = [c for c in evaluation.CORRUPTIONS if channels == 3 or c != "saturate"]
    assert len(names) == len(evaluation.CORRUPTIONS) - (channels == 1)
    for name in names:
        outs = {s: evaluation.corrupt(images, name, s, seed=1) for s in (1, 3, 5)}
        for s, out in outs.items():
            assert out.shape == images.shape and out.dtype == np.float32, name
            assert 0 <= out.min() and out.max() <= 255, name
            assert mad(out, images) > 0.5, (name, s)
        distance = [mad(outs[s], images) for s in (1, 3, 5)]
        if name == "elastic_transform":
            # The paper's table trades a shrinking affine part for a growing
            # elastic one: severity 1 moves pixels the most.
            assert distance[0] > distance[2]
        elif name == "saturate":
            # Severities 1-2 desaturate, 3-5 saturate ever more.
            assert distance[2] > distance[0]
        else:
            assert distance[0] < distance[1] < distance[2], (name, distance)


def test_filters_match_reference_implementations():
    images = structured_images(3, 32, 3, seed=1)
    x = images.astype("float64") / 255
    for severity, sigma in enumerate(corruptions.SEVERITY_PARAMETERS["gaussian_blur"], 1):
        reference = ndimage.gaussian_filter(x, (0, sigma, sigma, 0), mode="nearest", truncate=4.0)
        out = evaluation.corrupt(images, "gaussian_blur", severity)
        np.testing.assert_allclose(out, reference * 255, atol=1e-3)
    means = x.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(evaluation.corrupt(images, "contrast", 5),
                               np.clip((x - means) * 0.15 + means, 0, 1) * 255, atol=1e-3)
    gray = images[..., :1]
    np.testing.assert_allclose(evaluation.corrupt(gray, "brightness", 2),
                               np.clip(gray + 0.1 * 255, 0, 255), atol=1e-3)
    # Pixelation and JPEG as the paper made them with PIL (uint8 images).
    pil = [Image.fromarray(image) for image in images]
    small = [image.resize((27, 27), Image.BOX).resize((32, 32), Image.BOX) for image in pil]
    assert np.abs(evaluation.corrupt(images, "pixelate", 3) - np.stack(small)).max() <= 1
    jpegs = []
    for image in pil:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=50)
        jpegs.append(np.asarray(Image.open(buffer)))
    out = evaluation.corrupt(images, "jpeg_compression", 4)
    assert mad(out, np.stack(jpegs)) < 1 < mad(out, images)


def test_zoom_blur_matches_the_papers_clipped_zoom():
    images = structured_images(2, 32, 1, seed=2)
    x = images.astype("float64") / 255

    def clipped_zoom(image, zoom):
        side = image.shape[0]
        crop = int(np.ceil(side / zoom))
        top = (side - crop) // 2
        zoomed = ndimage.zoom(image[top:top + crop, top:top + crop], (zoom, zoom, 1), order=1)
        trim = (zoomed.shape[0] - side) // 2
        return zoomed[trim:trim + side, trim:trim + side]

    zooms = np.arange(1, 1.16, 0.01)
    reference = [(image + sum(clipped_zoom(image, z) for z in zooms)) / (len(zooms) + 1)
                 for image in x]
    np.testing.assert_allclose(evaluation.corrupt(images, "zoom_blur", 3),
                               np.stack(reference) * 255, atol=1e-3)


def test_motion_blur_streaks_a_point_to_one_side():
    image = np.zeros((1, 32, 32, 1), "float32")
    image[0, 16, 16] = 255
    for seed in range(3):
        out = evaluation.corrupt(image, "motion_blur", 5, seed=seed)[0, ..., 0]
        assert out.sum() == pytest.approx(255, rel=1e-4)  # weights sum to 1
        lit = np.argwhere(out > 1e-3) - 16
        assert len(lit) > 3
        # Within 45 degrees of the horizontal, on one side of the point.
        assert np.all(np.abs(lit[:, 0]) <= np.abs(lit[:, 1]) + 1)
        assert np.all(lit[:, 1] <= 0) or np.all(lit[:, 1] >= 0)


def test_seeding_dtypes_and_grayscale():
    images = structured_images(4, 16, 3, seed=3)
    for name in evaluation.CORRUPTIONS:
        a = evaluation.corrupt(images, name, 4, seed=5)
        np.testing.assert_array_equal(a, evaluation.corrupt(images, name, 4, seed=5))
        other = evaluation.corrupt(images, name, 4, seed=6)
        if name in RANDOM:
            assert mad(a, other) > 0.1, name
        else:
            np.testing.assert_array_equal(a, other)
    # uint8 and float images in [0, 255] are corrupted alike.
    np.testing.assert_allclose(evaluation.corrupt(images.astype("float32"), "shot_noise", 2),
                               evaluation.corrupt(images, "shot_noise", 2))
    with pytest.raises(ValueError, match="'saturate' needs color images"):
        evaluation.corrupt(images[..., :1], "saturate", 1)
    assert evaluation.corrupt(images[:0], "contrast", 1).shape == (0, 16, 16, 3)


def test_corrupt_errors_name_the_argument():
    images = structured_images(2, 8, 1)
    with pytest.raises(ValueError, match="`corruption` 'fog'.*'gaussian_noise'"):
        evaluation.corrupt(images, "fog", 1)
    for severity in (0, 6, 2.0, True):
        with pytest.raises(ValueError, match="`severity`.*1, 2, 3, 4, 5"):
            evaluation.corrupt(images, "contrast", severity)
    with pytest.raises(ValueError, match="`images` must have rank 4"):
        evaluation.corrupt(images[..., 0], "contrast", 1)
    with pytest.raises(ValueError, match="`images` must have 1 .* or 3"):
        evaluation.corrupt(np.zeros((2, 8, 8, 2)), "contrast", 1)
    with pytest.raises(ValueError, match="`seed`"):
        evaluation.corrupt(images, "contrast", 1, seed="a")


def brightness_classifier():
    """Logits [0, (mean - 125) / 5]: 'bright' when the image mean passes 125."""
    inputs = keras.Input((8, 8, 1))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.layers.Dense(2)
    model = keras.Model(inputs, dense(pooled))
    dense.set_weights([np.array([[0.0, 0.2]], "float32"), np.array([0.0, -25.0], "float32")])
    return model


def dark_and_bright(n=12):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    x = rng.normal(0, 20, (n, 8, 8, 1)) + np.where(y, 190, 60)[:, None, None, None]
    return np.clip(x, 0, 255).astype("uint8"), y


def test_corruption_accuracy_rows():
    x, y = dark_and_bright()
    model = brightness_classifier()
    rows = evaluation.corruption_accuracy(model, (x, y), ["contrast", "brightness"],
                                          severities=(1, 5), batch_size=5, verbose=0)
    assert [(r["corruption"], r["severity"]) for r in rows] == [
        ("clean", 0), ("contrast", 1), ("contrast", 5), ("brightness", 1), ("brightness", 5)]
    by_hand = np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y)
    assert rows[0]["accuracy"] == by_hand == 1.0
    # Contrast keeps each image's mean; brightness +0.3 makes dark images
    # look bright (60 + 76 > 125).
    assert rows[2]["accuracy"] == 1.0
    assert rows[4]["accuracy"] == 0.5
    assert evaluation.mean_corruption_accuracy(rows) == pytest.approx(
        np.mean([r["accuracy"] for r in rows[1:]]))
    # One batch: the corrupted images are corrupt(x, ..., seed).
    rows = evaluation.corruption_accuracy(model, (x, y), "gaussian_noise", severities=5,
                                          seed=3, verbose=0)
    noisy = evaluation.corrupt(x, "gaussian_noise", 5, seed=3)
    assert rows[1]["accuracy"] == np.mean(np.argmax(model.predict(noisy, verbose=0), 1) == y)
    # "all" on grayscale images leaves out the color-only saturate.
    assert corruptions._check_corruption_list("all", 1) == [
        c for c in evaluation.CORRUPTIONS if c != "saturate"]
    assert corruptions._check_corruption_list("all", 3) == list(evaluation.CORRUPTIONS)


def test_corruption_accuracy_progress(capsys):
    x, y = dark_and_bright(4)
    evaluation.corruption_accuracy(brightness_classifier(), (x, y), "pixelate", (1,), verbose=2)
    assert "2/2" in capsys.readouterr().out
    evaluation.corruption_accuracy(brightness_classifier(), (x, y), "pixelate", (1,), verbose=0)
    assert capsys.readouterr().out == ""


def test_corruption_accuracy_errors_name_the_argument():
    x, y = dark_and_bright(4)
    model = brightness_classifier()
    cases = [
        (dict(data=(x[:0], y[:0])), "`data` is empty"),
        (dict(data=(x, y[:3])), "`data` has 4 samples but 3 labels"),
        (dict(data=(x, y + 1)), r"`data` labels must lie in \[0, 2\)"),
        (dict(data=(x[..., 0], y)), r"`data\[0\]` must have rank 4"),
        (dict(corruptions="fog"), "`corruptions` 'fog'.*'gaussian_noise'"),
        (dict(corruptions=[]), "`corruptions`"),
        (dict(corruptions="saturate"), "`corruptions` 'saturate' needs color images"),
        (dict(severities=(1, 6)), "`severities`.*got 6"),
        (dict(severities=()), "`severities`"),
        (dict(batch_size=0), "`batch_size`"),
        (dict(verbose="loud"), "`verbose`"),
    ]
    for kwargs, message in cases:
        kwargs = dict(dict(model=model, data=(x, y), verbose=0), **kwargs)
        with pytest.raises(ValueError, match=message):
            evaluation.corruption_accuracy(**kwargs)
    inputs = keras.Input((8, 8, 1))
    features = keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs))
    with pytest.raises(ValueError, match="`model` must map images to \\(N, K\\)"):
        evaluation.corruption_accuracy(features, (x, y), "contrast", verbose=0)
    with pytest.raises(ValueError, match="`rows` holds no corrupted settings"):
        evaluation.mean_corruption_accuracy([{"corruption": "clean", "severity": 0,
                                              "accuracy": 1.0}])
    with pytest.raises(ValueError, match="`rows` must be dicts"):
        evaluation.mean_corruption_accuracy([{"severity": 1}])
