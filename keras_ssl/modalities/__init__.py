"""The modality registry shared by training, the zoo and the CLI.

See `keras_ssl.modalities.base` for what a modality supplies.
"""

from keras_ssl.modalities.base import Modality  # noqa: F401
from keras_ssl.modalities.base import all_modalities  # noqa: F401
from keras_ssl.modalities.base import available_methods  # noqa: F401
from keras_ssl.modalities.base import for_method  # noqa: F401
from keras_ssl.modalities.base import get  # noqa: F401
from keras_ssl.modalities.base import of_results  # noqa: F401
from keras_ssl.modalities.base import register  # noqa: F401
from keras_ssl.modalities.image import IMAGE  # noqa: F401
from keras_ssl.modalities.image_text import IMAGE_TEXT  # noqa: F401
from keras_ssl.modalities.series import SERIES  # noqa: F401
from keras_ssl.modalities.text import TEXT  # noqa: F401
from keras_ssl.modalities.video import VIDEO  # noqa: F401
