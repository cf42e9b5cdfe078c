"""Pretraining methods: each a `keras.Model` overriding `train_step`."""

from keras_ssl.methods.denoising_autoencoder import DenoisingAutoencoder  # noqa: F401
from keras_ssl.methods.masked_autoencoder import MaskedAutoencoder  # noqa: F401
from keras_ssl.methods.masked_language_model import MaskedLanguageModel  # noqa: F401
from keras_ssl.methods.rotation_prediction import RotationPrediction  # noqa: F401
from keras_ssl.methods.simclr import SimCLR  # noqa: F401
from keras_ssl.methods.ssl_method import PretrainingModel  # noqa: F401
from keras_ssl.methods.ssl_method import SSLMethod  # noqa: F401
