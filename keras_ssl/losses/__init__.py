"""Self-supervised objectives: pure functions and `keras.losses.Loss` classes."""

from keras_ssl.distribute import cross_replica_concat  # noqa: F401
from keras_ssl.losses.barlow_twins import BarlowTwinsLoss  # noqa: F401
from keras_ssl.losses.barlow_twins import barlow_twins  # noqa: F401
from keras_ssl.losses.barlow_twins import cross_correlation  # noqa: F401
from keras_ssl.losses.dino import dino_loss  # noqa: F401
from keras_ssl.losses.info_nce import info_nce  # noqa: F401
from keras_ssl.losses.negative_cosine import NegativeCosineSimilarity  # noqa: F401
from keras_ssl.losses.negative_cosine import negative_cosine  # noqa: F401
from keras_ssl.losses.nt_xent import NTXentLoss  # noqa: F401
from keras_ssl.losses.nt_xent import nt_xent  # noqa: F401
from keras_ssl.losses.vicreg import VICRegLoss  # noqa: F401
from keras_ssl.losses.vicreg import vicreg  # noqa: F401
from keras_ssl.losses.vicreg import vicreg_terms  # noqa: F401
from keras_ssl.losses.wav2vec2 import codebook_diversity  # noqa: F401
from keras_ssl.losses.wav2vec2 import masked_step_contrast  # noqa: F401
