"""Data sets: numpy loaders (local files first, then downloads) and tf.data helpers."""

from keras_ssl.datasets.folders import from_directory  # noqa: F401
from keras_ssl.datasets.folders import list_images  # noqa: F401
from keras_ssl.datasets.image_datasets import available  # noqa: F401
from keras_ssl.datasets.image_datasets import info  # noqa: F401
from keras_ssl.datasets.image_datasets import load  # noqa: F401
from keras_ssl.datasets.image_datasets import read_idx  # noqa: F401
from keras_ssl.datasets.pipeline import label_subset  # noqa: F401
from keras_ssl.datasets.pipeline import make_dataset  # noqa: F401
from keras_ssl.datasets.series import available_series  # noqa: F401
from keras_ssl.datasets.series import check_series  # noqa: F401
from keras_ssl.datasets.series import fill_missing  # noqa: F401
from keras_ssl.datasets.series import load_series  # noqa: F401
from keras_ssl.datasets.series import read_ts  # noqa: F401
from keras_ssl.datasets.series import series_info  # noqa: F401
from keras_ssl.datasets.series import series_lengths  # noqa: F401
from keras_ssl.datasets.text import fortune_topics  # noqa: F401
from keras_ssl.datasets.text import fortunes_corpus  # noqa: F401
from keras_ssl.datasets.text import load_fortunes  # noqa: F401
from keras_ssl.datasets.text import load_sms_spam  # noqa: F401
from keras_ssl.datasets.text import load_text  # noqa: F401
from keras_ssl.datasets.text import read_texts  # noqa: F401
from keras_ssl.datasets.text import shakespeare_files  # noqa: F401
from keras_ssl.datasets.tfrecords import from_tfrecords  # noqa: F401
from keras_ssl.datasets.tfrecords import write_tfrecords  # noqa: F401
