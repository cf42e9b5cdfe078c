"""Backbones: encoders of images and videos (raw pixels in [0, 255]) and series to
feature vectors."""

from keras_ssl.backbones.backbone import Backbone  # noqa: F401
from keras_ssl.backbones.conv_net import ConvNet  # noqa: F401
from keras_ssl.backbones.registry import available  # noqa: F401
from keras_ssl.backbones.registry import get  # noqa: F401
from keras_ssl.backbones.resnet import ResNet  # noqa: F401
from keras_ssl.backbones.resnet import ResNet18  # noqa: F401
from keras_ssl.backbones.resnet import ResNet34  # noqa: F401
from keras_ssl.backbones.resnet import ResNet50  # noqa: F401
from keras_ssl.backbones.temporal_conv_net import TemporalConvNet  # noqa: F401
from keras_ssl.backbones.video_vit import VideoViT  # noqa: F401
from keras_ssl.backbones.vit import ViT  # noqa: F401
from keras_ssl.backbones.vit import ViTSmall  # noqa: F401
from keras_ssl.backbones.vit import ViTTiny  # noqa: F401
from keras_ssl.backbones.bert import BertSmall  # noqa: F401
from keras_ssl.backbones.bert import BertTiny  # noqa: F401
from keras_ssl.backbones.gpt import GPTSmall  # noqa: F401
from keras_ssl.backbones.gpt import GPTTiny  # noqa: F401
from keras_ssl.backbones.albert import AlbertSmall  # noqa: F401
from keras_ssl.backbones.albert import AlbertTiny  # noqa: F401
