"""Evaluation of pretrained encoders: linear probe, kNN, fine-tuning, retrieval,
robustness to adversarial attacks and common corruptions."""

from keras_ssl.evaluation.collapse_monitor import CollapseMonitor  # noqa: F401
from keras_ssl.evaluation.corruptions import CORRUPTIONS  # noqa: F401
from keras_ssl.evaluation.corruptions import corrupt  # noqa: F401
from keras_ssl.evaluation.corruptions import corruption_accuracy  # noqa: F401
from keras_ssl.evaluation.corruptions import mean_corruption_accuracy  # noqa: F401
from keras_ssl.evaluation.fine_tune import fine_tune  # noqa: F401
from keras_ssl.evaluation.knn_monitor import KNNMonitor  # noqa: F401
from keras_ssl.evaluation.probes import classification_report  # noqa: F401
from keras_ssl.evaluation.probes import extract_features  # noqa: F401
from keras_ssl.evaluation.probes import feature_model  # noqa: F401
from keras_ssl.evaluation.probes import inference_cost  # noqa: F401
from keras_ssl.evaluation.probes import knn_accuracy  # noqa: F401
from keras_ssl.evaluation.probes import linear_probe  # noqa: F401
from keras_ssl.evaluation.projector import write_projector  # noqa: F401
from keras_ssl.evaluation.retrieval import recall_at_k  # noqa: F401
from keras_ssl.evaluation.robustness import compare_robustness  # noqa: F401
from keras_ssl.evaluation.robustness import robust_accuracy  # noqa: F401
from keras_ssl.evaluation.robustness import robustness_table  # noqa: F401
from keras_ssl.evaluation.text_classifier import as_text_dataset  # noqa: F401
from keras_ssl.evaluation.text_classifier import text_classifier  # noqa: F401
from keras_ssl.evaluation.text_classifier import text_probe  # noqa: F401
