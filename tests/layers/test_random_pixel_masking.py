import numpy as np
import pytest

from keras_ssl.layers import RandomPixelMasking
from tests.testing import run_layer_test
from tests.testing import run_serialization_test
from tests.testing import structured_images


@pytest.mark.parametrize("patch_size,ratio", [(1, 0.5), (2, 0.25), (4, 0.3)])
def test_exact_count_and_fill(patch_size, ratio):
    images = np.full((4, 8, 8, 3), 200, "uint8")
    masked, mask = RandomPixelMasking(ratio, patch_size, fill_value=7.0, seed=0)(images)
    masked, mask = masked.numpy(), mask.numpy()
    assert mask.shape == (4, 8, 8, 1) and masked.shape == (4, 8, 8, 3)
    cells = (8 // patch_size) ** 2
    expected = round(ratio * cells) * patch_size**2
    assert (mask.reshape(4, -1).sum(axis=1) == expected).all()
    hidden = np.broadcast_to(mask == 1, masked.shape)
    assert (masked[hidden] == 7).all() and (masked[~hidden] == 200).all()
    # The mask is constant over each patch_size x patch_size cell.
    blocks = mask.reshape(4, 8 // patch_size, patch_size, 8 // patch_size, patch_size)
    assert (blocks.min(axis=(2, 4)) == blocks.max(axis=(2, 4))).all()


def test_per_sample_seeded_and_inference():
    images = structured_images(8, 8, 1)
    run_layer_test(
        RandomPixelMasking(0.5, seed=0), images, check_per_sample=False
    )
    _, mask = RandomPixelMasking(0.5, seed=1)(np.repeat(images[:1], 8, axis=0))
    assert len({m.tobytes() for m in mask.numpy()}) == 8
    _, again = RandomPixelMasking(0.5, seed=1)(np.repeat(images[:1], 8, axis=0))
    np.testing.assert_array_equal(mask.numpy(), again.numpy())
    same, zeros = RandomPixelMasking(0.5, seed=0)(images, training=False)
    np.testing.assert_array_equal(same.numpy(), images)
    assert zeros.numpy().shape == (8, 8, 8, 1) and zeros.numpy().sum() == 0
    revived = run_serialization_test(
        RandomPixelMasking(0.3, patch_size=4, fill_value=128.0, seed=0)
    )
    assert revived.patch_size == 4 and revived.fill_value == 128.0


def test_errors():
    images = structured_images(2, 8, 1)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="mask_ratio"):
            RandomPixelMasking(bad)
    with pytest.raises(ValueError, match=r"patch_size`=3.*\(2, 8, 8, 1\)"):
        RandomPixelMasking(0.5, patch_size=3)(images)
    with pytest.raises(ValueError, match="patch_size"):
        RandomPixelMasking(0.5, patch_size=0)
    with pytest.raises(ValueError, match="rank 4"):
        RandomPixelMasking(0.5)(images[0])
