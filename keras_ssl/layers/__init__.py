"""Layers: augmentation, masking and heads."""

from keras_ssl.layers.multi_view import MultiView  # noqa: F401
from keras_ssl.layers.random_apply import RandomApply  # noqa: F401
from keras_ssl.layers.random_resized_crop import RandomResizedCrop  # noqa: F401
from keras_ssl.layers.simclr_augmenter import SimCLRAugmenter  # noqa: F401
from keras_ssl.layers.simclr_projection_head import SimCLRProjectionHead  # noqa: F401
