import keras
import numpy as np
import pytest

from keras_ssl.layers import Patchify
from keras_ssl.layers import Unpatchify
from keras_ssl.layers.patchify import check_patch_size
from tests.testing import run_layer_test
from tests.testing import run_serialization_test
from tests.testing import structured_images


@pytest.mark.parametrize("channels", [1, 3])
def test_round_trip_square(channels):
    images = structured_images(2, 16, channels).astype("float32")
    patches = Patchify(4)(images)
    assert tuple(patches.shape) == (2, 16, 16 * channels)
    back = Unpatchify(4, 16, channels)(patches)
    np.testing.assert_array_equal(back.numpy(), images)


def test_row_major_order_non_square():
    images = np.arange(2 * 8 * 12 * 2, dtype="float32").reshape(2, 8, 12, 2)
    patches = Patchify(4)(images).numpy()
    assert patches.shape == (2, 6, 32)
    # Patch index r * 3 + c holds block (r, c), flattened row-major, channels last.
    for r in range(2):
        for c in range(3):
            block = images[:, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4, :]
            np.testing.assert_array_equal(patches[:, r * 3 + c], block.reshape(2, -1))
    back = Unpatchify(4, (8, 12), 2)(patches)
    np.testing.assert_array_equal(back.numpy(), images)


def test_layer_contract():
    images = structured_images(2, 8, 1)
    run_layer_test(Patchify(2), images, expected_output_shape=(2, 16, 4))
    inputs = keras.Input((8, 8, 3))
    patches = Patchify(2)(inputs)
    assert tuple(patches.shape) == (None, 16, 12)
    back = Unpatchify(2, (8, 8), 3)(patches)
    assert tuple(back.shape) == (None, 8, 8, 3)
    model = keras.Model(inputs, back)
    x = structured_images(2, 8, 3).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    revived = run_serialization_test(Unpatchify(2, (8, 4), 3))
    assert revived.image_size == (8, 4) and revived.channels == 3


def test_errors():
    images = structured_images(2, 16, 1).astype("float32")
    with pytest.raises(ValueError, match=r"patch_size`=5.*\(2, 16, 16, 1\)"):
        Patchify(5)(images)
    with pytest.raises(ValueError, match="patch_size"):
        Patchify(0)
    with pytest.raises(ValueError, match="rank 4"):
        Patchify(4)(images[0])
    with pytest.raises(ValueError, match="patch_size"):
        Unpatchify(3, (16, 16), 1)
    with pytest.raises(ValueError, match=r"\(batch, 16, 16\)"):
        Unpatchify(4, (16, 16), 1)(np.zeros((2, 8, 16), "float32"))
    with pytest.raises(ValueError, match="patch_size"):
        check_patch_size((28, 28, 1), 3)
