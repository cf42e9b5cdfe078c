"""Pretraining methods: each a `keras.Model` overriding `train_step`."""

from keras_ssl.methods.barlow_twins import BarlowTwins  # noqa: F401
from keras_ssl.methods.byol import BYOL  # noqa: F401
from keras_ssl.methods.denoising_autoencoder import DenoisingAutoencoder  # noqa: F401
from keras_ssl.methods.dino import DINO  # noqa: F401
from keras_ssl.methods.joint_embedding import JointEmbeddingMethod  # noqa: F401
from keras_ssl.methods.masked_autoencoder import MaskedAutoencoder  # noqa: F401
from keras_ssl.methods.masked_language_model import MaskedLanguageModel  # noqa: F401
from keras_ssl.methods.moco import MoCo  # noqa: F401
from keras_ssl.methods.rotation_prediction import RotationPrediction  # noqa: F401
from keras_ssl.methods.simclr import SimCLR  # noqa: F401
from keras_ssl.methods.simmim import SimMIM  # noqa: F401
from keras_ssl.methods.simsiam import SimSiam  # noqa: F401
from keras_ssl.methods.ssl_method import PretrainingModel  # noqa: F401
from keras_ssl.methods.ssl_method import SSLMethod  # noqa: F401
from keras_ssl.methods.vicreg import VICReg  # noqa: F401
