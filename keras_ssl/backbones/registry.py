"""Backbones by name, for the command line and recipes."""

from keras_ssl.utils import check_choice


def _builders():
    from keras_ssl import backbones

    builders = {
        "convnet": backbones.ConvNet,
        "resnet18": backbones.ResNet18,
        "resnet34": backbones.ResNet34,
        "resnet50": backbones.ResNet50,
    }
    for name, attr in (("vit", "ViT"), ("vit_tiny", "ViTTiny"), ("vit_small", "ViTSmall")):
        if hasattr(backbones, attr):
            builders[name] = getattr(backbones, attr)
    return builders


def available():
    """Names accepted by `get`."""
    return sorted(_builders())


def get(name, input_shape, **kwargs):
    """Build backbone `name` for images of `input_shape`.

    Example:

    >>> get("resnet18", input_shape=(28, 28, 1), width_multiplier=0.25).output_shape
    (None, 128)
    """
    check_choice("backbone", name, available())
    return _builders()[name](input_shape=tuple(input_shape), **kwargs)
