"""Self-supervised objectives: pure functions and `keras.losses.Loss` classes."""

from keras_ssl.losses.nt_xent import NTXentLoss  # noqa: F401
from keras_ssl.losses.nt_xent import cross_replica_concat  # noqa: F401
from keras_ssl.losses.nt_xent import nt_xent  # noqa: F401
