"""Optimizers for fine-tuning pretrained encoders.

Keras has no per-variable learning rate (PyTorch's parameter groups), which
layer-wise learning-rate decay (BEiT, MAE fine-tuning) needs, so
`ScaledAdamW` adds one to Keras' AdamW, and `layer_decay_multipliers`
computes the multipliers of the ViT and ResNet backbones.
"""

import re

import keras


@keras.saving.register_keras_serializable(package="keras_ssl")
class ScaledAdamW(keras.optimizers.AdamW):
    """AdamW whose learning rate is multiplied per variable.

    Args:
        lr_multipliers: dict from a variable's `path` to the factor its
            learning rate is multiplied by; variables not in it use 1.
            Weight decay keeps the base learning rate.
        **kwargs: `keras.optimizers.AdamW` arguments.

    Example:
    ```python
    multipliers = keras_ssl.optimizers.layer_decay_multipliers(vit, 0.75)
    optimizer = keras_ssl.optimizers.ScaledAdamW(multipliers, learning_rate=1e-3)
    ```
    """

    def __init__(self, lr_multipliers=None, **kwargs):
        super().__init__(**kwargs)
        lr_multipliers = dict(lr_multipliers or {})
        for path, value in lr_multipliers.items():
            if not value >= 0:
                raise ValueError(
                    f"`lr_multipliers` must map variable paths to factors >= 0; got "
                    f"{value!r} for {path!r}."
                )
        self.lr_multipliers = {str(k): float(v) for k, v in lr_multipliers.items()}
        self._multipliers = []

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._multipliers = [self.lr_multipliers.get(v.path, 1.0) for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        multiplier = self._multipliers[self._get_variable_index(variable)]
        if multiplier != 1.0:
            learning_rate = learning_rate * multiplier
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["lr_multipliers"] = dict(self.lr_multipliers)
        return config


def _layer_depth(name, num_layers, kind):
    """Depth of a backbone layer: 0 = input side, num_layers + 1 = output side."""
    if kind == "vit":
        if name in ("patch_embedding", "position_embedding", "class_token", "rescale"):
            return 0
        match = re.fullmatch(r"block_(\d+)", name)
        if match:
            return int(match.group(1)) + 1
        return num_layers + 1
    if name.startswith("stem"):
        return 0
    match = re.match(r"stage(\d+)_", name)
    if match:
        return int(match.group(1))
    return num_layers + 1


def layer_decay_multipliers(backbone, decay):
    """Learning-rate multipliers for layer-wise decay (Clark et al. 2020, BEiT).

    A layer at depth `i` of `L` gets `decay ** (L + 1 - i)`: the patch
    embedding (or the stem) learns slowest, the last block fastest; layers
    after the last block (final norm) and any head added later keep 1.
    Depth counts transformer blocks for ViTs and stages for ResNets.

    Returns a dict `{variable.path: multiplier}` for `ScaledAdamW`.
    """
    from keras_ssl.backbones.resnet import ResNet
    from keras_ssl.backbones.vit import ViT

    if not (isinstance(decay, (int, float)) and 0.0 < decay <= 1.0):
        raise ValueError(f"`layer_decay` must be in (0, 1], got {decay!r}.")
    if isinstance(backbone, ViT):
        kind, num_layers = "vit", backbone.num_layers
    elif isinstance(backbone, ResNet):
        kind, num_layers = "resnet", 4
    else:
        raise ValueError(
            "`layer_decay` needs a ViT or ResNet backbone (its depth order is known), got "
            f"{type(backbone).__name__}."
        )
    multipliers = {}
    for layer in backbone.layers:
        depth = _layer_depth(layer.name, num_layers, kind)
        for variable in layer.trainable_weights:
            multipliers[variable.path] = float(decay) ** (num_layers + 1 - depth)
    return multipliers
