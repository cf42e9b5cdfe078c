"""Pretraining methods: each a `keras.Model` overriding `train_step`."""

from keras_ssl.methods.simclr import SimCLR  # noqa: F401
from keras_ssl.methods.ssl_method import SSLMethod  # noqa: F401
