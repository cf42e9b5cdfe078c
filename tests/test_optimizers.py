import keras
import numpy as np
import pytest

import keras_ssl
from keras_ssl import optimizers


def two_layers():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, name="slow")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="fast")(hidden))


def test_scaled_adamw_multiplies_each_variables_step():
    model = two_layers()
    slow = model.get_layer("slow")
    multipliers = {slow.kernel.path: 0.5, slow.bias.path: 0.0}
    optimizer = optimizers.ScaledAdamW(multipliers, learning_rate=0.1, weight_decay=0.0)
    model.compile(optimizer=optimizer, loss="mse")
    before = [w.copy() for w in model.get_weights()]
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    model.train_on_batch(x, np.ones((8, 2), "float32"))
    steps = [np.abs(a - b) for a, b in zip(model.get_weights(), before)]
    # Adam's first step moves every weight with a non-zero gradient by
    # about the learning rate; here scaled per variable.
    slow_kernel, slow_bias, fast_kernel, fast_bias = steps
    np.testing.assert_allclose(slow_kernel, 0.05, rtol=1e-3)
    np.testing.assert_array_equal(slow_bias, 0.0)
    np.testing.assert_allclose(fast_bias, 0.1, rtol=1e-3)
    config = keras.optimizers.serialize(optimizer)
    restored = keras.optimizers.deserialize(config)
    assert isinstance(restored, optimizers.ScaledAdamW)
    assert restored.lr_multipliers == multipliers
    with pytest.raises(ValueError, match="lr_multipliers"):
        optimizers.ScaledAdamW({"a": -1.0})


def test_layer_decay_multipliers_follow_depth():
    vit = keras_ssl.backbones.ViT(input_shape=(8, 8, 1), patch_size=4, hidden_dim=16,
                                  num_layers=3, num_heads=2)
    m = optimizers.layer_decay_multipliers(vit, 0.5)
    assert set(m) == {v.path for v in vit.trainable_weights}
    by_layer = {name: {m[v.path] for v in vit.get_layer(name).trainable_weights}
                for name in ("patch_embedding", "block_0", "block_2", "final_norm")}
    assert by_layer == {"patch_embedding": {0.5 ** 4}, "block_0": {0.5 ** 3},
                        "block_2": {0.5}, "final_norm": {1.0}}
    resnet = keras_ssl.backbones.ResNet18(input_shape=(8, 8, 1), width_multiplier=0.125)
    m = optimizers.layer_decay_multipliers(resnet, 0.5)
    assert m[resnet.get_layer("stem_conv").kernel.path] == 0.5 ** 5
    assert m[resnet.get_layer("stage4_block2_conv2").kernel.path] == 0.5
    assert m[resnet.get_layer("stage1_block1_conv1").kernel.path] == 0.5 ** 4
    with pytest.raises(ValueError, match="layer_decay"):
        optimizers.layer_decay_multipliers(vit, 0.0)
    with pytest.raises(ValueError, match="ViT or ResNet"):
        optimizers.layer_decay_multipliers(keras_ssl.backbones.ConvNet(input_shape=(8, 8, 1)),
                                           0.75)
