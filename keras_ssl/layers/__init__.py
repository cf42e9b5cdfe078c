"""Layers: augmentation, masking and heads."""

from keras_ssl.layers.dino_head import DINOHead  # noqa: F401
from keras_ssl.layers.gumbel_quantizer import GumbelVectorQuantizer  # noqa: F401
from keras_ssl.layers.momentum_teacher import MomentumTeacher  # noqa: F401
from keras_ssl.layers.multi_crop import MultiCrop  # noqa: F401
from keras_ssl.layers.multi_view import MultiView  # noqa: F401
from keras_ssl.layers.patchify import Patchify  # noqa: F401
from keras_ssl.layers.patchify import Unpatchify  # noqa: F401
from keras_ssl.layers.projection_head import ProjectionHead  # noqa: F401
from keras_ssl.layers.random_apply import RandomApply  # noqa: F401
from keras_ssl.layers.random_frame_order import RandomFrameOrder  # noqa: F401
from keras_ssl.layers.random_frame_order import order_classes  # noqa: F401
from keras_ssl.layers.random_patch_masking import RandomPatchMasking  # noqa: F401
from keras_ssl.layers.random_pixel_masking import RandomPixelMasking  # noqa: F401
from keras_ssl.layers.random_resized_crop import RandomResizedCrop  # noqa: F401
from keras_ssl.layers.random_rotation90 import RandomRotation90  # noqa: F401
from keras_ssl.layers.simclr_augmenter import SimCLRAugmenter  # noqa: F401
from keras_ssl.layers.simclr_projection_head import SimCLRProjectionHead  # noqa: F401
from keras_ssl.layers.span_masking import span_mask  # noqa: F401
from keras_ssl.layers.tubelet_patchify import TubeletPatchify  # noqa: F401
from keras_ssl.layers.tubelet_patchify import TubeletUnpatchify  # noqa: F401
from keras_ssl.layers.word_augmentation import (  # noqa: F401
    RandomWordDeletion, RandomWordReplacement, RandomWordSwap)
