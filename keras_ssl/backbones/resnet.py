"""ResNet backbones with a small-image stem and a width multiplier."""

import keras

from keras_ssl.backbones.backbone import Backbone
from keras_ssl.backbones.validation import check_input_shape

_BLOCKS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
}


def _bn(name, synchronized):
    return keras.layers.BatchNormalization(
        momentum=0.9, epsilon=1e-5, synchronized=synchronized, name=name
    )


def _conv(filters, kernel, strides, name):
    return keras.layers.Conv2D(
        filters,
        kernel,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=name,
    )


def _basic_block(x, filters, strides, name, synchronized):
    shortcut = x
    y = _conv(filters, 3, strides, f"{name}_conv1")(x)
    y = _bn(f"{name}_bn1", synchronized)(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = _conv(filters, 3, 1, f"{name}_conv2")(y)
    y = _bn(f"{name}_bn2", synchronized)(y)
    if strides != 1 or x.shape[-1] != filters:
        shortcut = _conv(filters, 1, strides, f"{name}_proj")(x)
        shortcut = _bn(f"{name}_proj_bn", synchronized)(shortcut)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def _bottleneck_block(x, filters, strides, name, synchronized):
    out_filters = filters * 4
    shortcut = x
    y = _conv(filters, 1, 1, f"{name}_conv1")(x)
    y = _bn(f"{name}_bn1", synchronized)(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = _conv(filters, 3, strides, f"{name}_conv2")(y)
    y = _bn(f"{name}_bn2", synchronized)(y)
    y = keras.layers.ReLU(name=f"{name}_relu2")(y)
    y = _conv(out_filters, 1, 1, f"{name}_conv3")(y)
    y = _bn(f"{name}_bn3", synchronized)(y)
    if strides != 1 or x.shape[-1] != out_filters:
        shortcut = _conv(out_filters, 1, strides, f"{name}_proj")(x)
        shortcut = _bn(f"{name}_proj_bn", synchronized)(shortcut)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


@keras.saving.register_keras_serializable(package="keras_ssl")
class ResNet(Backbone):
    """ResNet backbone (He et al. 2016) for self-supervised pretraining.

    Takes raw images (uint8 or float in [0, 255], NHWC) and returns the
    globally average-pooled feature vector. Inputs under 64 px get the
    small-image stem of SimCLR's CIFAR experiments (a 3x3 stride-1
    convolution, no max-pool); larger inputs the ImageNet stem (7x7 stride-2
    convolution and 3x3 max-pool). Channel widths are 64, 128, 256, 512
    times `width_multiplier`, so a CPU can train it.

    Args:
        depth: 18, 34 (basic blocks) or 50 (bottleneck blocks).
        input_shape: (height, width, channels), any number of channels.
        width_multiplier: scales every layer's channels (at least 8).
        stem: "auto" (by input size), "small" or "imagenet".
        synchronized: synchronize batch-norm statistics across replicas
            under `tf.distribute`.

    Example:

    >>> encoder = ResNet(18, input_shape=(28, 28, 1), width_multiplier=0.25)
    >>> encoder.output_shape
    (None, 128)
    """

    def __init__(
        self,
        depth=18,
        input_shape=(32, 32, 3),
        width_multiplier=1.0,
        stem="auto",
        synchronized=False,
        **kwargs,
    ):
        if depth not in _BLOCKS:
            raise ValueError(
                f"`depth` must be one of {sorted(_BLOCKS)}, got {depth!r}."
            )
        input_shape = check_input_shape(input_shape)
        if stem not in ("auto", "small", "imagenet"):
            raise ValueError(
                f"`stem` must be 'auto', 'small' or 'imagenet', got {stem!r}."
            )
        if not width_multiplier > 0:
            raise ValueError(
                f"`width_multiplier` must be > 0, got {width_multiplier!r}."
            )
        block_type, counts = _BLOCKS[depth]
        widths = [max(8, int(round(w * width_multiplier))) for w in (64, 128, 256, 512)]
        small = stem == "small" or (stem == "auto" and min(input_shape[:2]) < 64)

        # === Functional Model ===
        inputs = keras.Input(shape=input_shape, name="images")
        x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
        if small:
            x = _conv(widths[0], 3, 1, "stem_conv")(x)
            x = _bn("stem_bn", synchronized)(x)
            x = keras.layers.ReLU(name="stem_relu")(x)
        else:
            x = _conv(widths[0], 7, 2, "stem_conv")(x)
            x = _bn("stem_bn", synchronized)(x)
            x = keras.layers.ReLU(name="stem_relu")(x)
            x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
        block_fn = _basic_block if block_type == "basic" else _bottleneck_block
        for stage, (filters, count) in enumerate(zip(widths, counts)):
            for i in range(count):
                strides = 2 if (i == 0 and stage > 0) else 1
                x = block_fn(x, filters, strides, f"stage{stage + 1}_block{i + 1}", synchronized)
        outputs = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        kwargs.setdefault("name", f"resnet{depth}")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.depth = depth
        self.image_shape = input_shape
        self.width_multiplier = width_multiplier
        self.stem = stem
        #: the stem built ("small" or "imagenet"; `stem` may say "auto")
        self.stem_in_use = "small" if small else "imagenet"
        self.synchronized = synchronized
        self.feature_dim = int(outputs.shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({
            "depth": self.depth,
            "input_shape": list(self.image_shape),
            "width_multiplier": self.width_multiplier,
            "stem": self.stem,
            "synchronized": self.synchronized,
        })
        return config


def ResNet18(input_shape=(32, 32, 3), width_multiplier=1.0, **kwargs):
    """ResNet-18 (basic blocks 2-2-2-2). See `ResNet` for the arguments."""
    return ResNet(18, input_shape=input_shape, width_multiplier=width_multiplier, **kwargs)


def ResNet34(input_shape=(32, 32, 3), width_multiplier=1.0, **kwargs):
    """ResNet-34 (basic blocks 3-4-6-3). See `ResNet` for the arguments."""
    return ResNet(34, input_shape=input_shape, width_multiplier=width_multiplier, **kwargs)


def ResNet50(input_shape=(32, 32, 3), width_multiplier=1.0, **kwargs):
    """ResNet-50 (bottleneck blocks 3-4-6-3). See `ResNet` for the arguments."""
    return ResNet(50, input_shape=input_shape, width_multiplier=width_multiplier, **kwargs)
