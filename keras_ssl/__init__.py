"""keras_ssl: self-supervised pretraining for Keras 3 on TensorFlow.

Pretrain a backbone on unlabeled data with a pretext task (SimCLR, rotation
prediction, masked autoencoders, BERT masked language modeling), then reuse it
where labels are few: linear probe, kNN, fine-tuning with ``model.fit``, or a
SavedModel for serving.
"""

import os

# keras_ssl is written for the TensorFlow backend (tf.data, tf.distribute,
# SavedModel). TensorFlow is imported first, without its C++ start-up
# messages unless the user set TF_CPP_MIN_LOG_LEVEL (see keras_ssl.startup).
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from keras_ssl import startup  # noqa: E402

startup.import_tensorflow()

import keras  # noqa: E402

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        "keras_ssl needs the TensorFlow Keras backend, but KERAS_BACKEND is "
        f"{keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow."
    )

from keras_ssl import adversarial  # noqa: E402,F401
from keras_ssl import backbones  # noqa: E402,F401
from keras_ssl import datasets  # noqa: E402,F401
from keras_ssl import evaluation  # noqa: E402,F401
from keras_ssl import export  # noqa: E402,F401
from keras_ssl import layers  # noqa: E402,F401
from keras_ssl import losses  # noqa: E402,F401
from keras_ssl import methods  # noqa: E402,F401
from keras_ssl import modalities  # noqa: E402,F401
from keras_ssl import optimizers  # noqa: E402,F401
from keras_ssl import presets  # noqa: E402,F401
from keras_ssl import text  # noqa: E402,F401
from keras_ssl import visualize  # noqa: E402,F401
from keras_ssl.version import __version__  # noqa: E402,F401
