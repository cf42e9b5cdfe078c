"""A small convolutional backbone for fast experiments and tests."""

import keras

from keras_ssl.backbones.backbone import Backbone
from keras_ssl.backbones.validation import check_input_shape


@keras.saving.register_keras_serializable(package="keras_ssl")
class ConvNet(Backbone):
    """A small ConvNet: (Conv-BN-ReLU, max-pool) blocks, global average pool.

    Takes raw images (uint8 or float in [0, 255]) and returns (N, filters[-1])
    features. Meant for tests and quick experiments; use `ResNet18` for
    results.

    Args:
        input_shape: (height, width, channels).
        filters: channels of each block; each block but the last halves
            the resolution.
        synchronized: synchronize batch norm across replicas.

    Example:

    >>> ConvNet(input_shape=(16, 16, 1), filters=(8, 16)).output_shape
    (None, 16)
    """

    def __init__(
        self, input_shape=(28, 28, 1), filters=(32, 64, 128), synchronized=False, **kwargs
    ):
        input_shape = check_input_shape(input_shape, min_size=4)
        filters = tuple(int(f) for f in filters)
        if not filters or min(filters) < 1:
            raise ValueError(f"`filters` must be positive integers, got {filters!r}.")

        # === Functional Model ===
        inputs = keras.Input(shape=input_shape, name="images")
        x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
        for i, f in enumerate(filters):
            x = keras.layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
            x = keras.layers.BatchNormalization(synchronized=synchronized, name=f"bn{i + 1}")(x)
            x = keras.layers.ReLU(name=f"relu{i + 1}")(x)
            if i < len(filters) - 1 and min(x.shape[1], x.shape[2]) >= 2:
                x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
        outputs = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        kwargs.setdefault("name", "conv_net")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.image_shape = input_shape
        self.filters = filters
        self.synchronized = synchronized
        self.feature_dim = filters[-1]

    def get_config(self):
        config = super().get_config()
        config.update({
            "input_shape": list(self.image_shape),
            "filters": list(self.filters),
            "synchronized": self.synchronized,
        })
        return config
