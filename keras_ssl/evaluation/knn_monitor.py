"""A callback that reports kNN accuracy of the encoder during pretraining."""

import keras
import numpy as np

from keras_ssl.evaluation.probes import _check_pair
from keras_ssl.evaluation.probes import extract_features
from keras_ssl.evaluation.probes import knn_predict


class KNNMonitor(keras.callbacks.Callback):
    """Print kNN accuracy on a small labeled validation set after epochs.

    The encoder (default: `self.model.encoder`) embeds `train_data` (the
    labeled reference set) and `validation_data`; each validation sample is
    classified by a weighted vote of its `k` nearest references. The value
    is added to the epoch logs as `knn_accuracy`, so History, TensorBoard and
    `history.json` record it.

    Args:
        validation_data: `(x, y)` to classify.
        train_data: `(x, y)` reference set; default: `validation_data`
            itself with leave-one-out (the sample's own vote removed).
        k: neighbours.
        every: run every `every` epochs.
        encoder: the encoder to evaluate; default `model.encoder`.
    """

    def __init__(self, validation_data, train_data=None, k=20, every=1, encoder=None,
                 verbose=1):
        super().__init__()
        self.validation_data = _check_pair("validation_data", validation_data)
        self.train_data = _check_pair("train_data", train_data) if train_data is not None else None
        if int(every) < 1:
            raise ValueError(f"`every` must be >= 1, got {every!r}.")
        self.k = int(k)
        self.every = int(every)
        self.encoder = encoder
        self.verbose = verbose
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        encoder = self.encoder or getattr(self.model, "encoder", None)
        if encoder is None:
            raise ValueError(
                "KNNMonitor needs an `encoder`: the model has no `encoder` "
                "attribute, so pass encoder=... to the callback."
            )
        x_val, y_val = self.validation_data
        f_val = extract_features(encoder, x_val)
        if self.train_data is None:
            f_ref, y_ref = f_val, y_val
            k = min(self.k + 1, len(f_ref))
            # Leave-one-out: drop each sample's own (most similar) vote.
            predictions = _loo_knn(f_ref, y_ref, k)
        else:
            f_ref = extract_features(encoder, self.train_data[0])
            y_ref = self.train_data[1]
            predictions = knn_predict(f_ref, y_ref, f_val, k=self.k,
                                      num_classes=int(max(y_ref.max(), y_val.max())) + 1)
        accuracy = float(np.mean(predictions == y_val))
        self.history.append(accuracy)
        if logs is not None:
            logs["knn_accuracy"] = accuracy
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: kNN accuracy {accuracy:.4f}")


def _loo_knn(features, labels, k):
    f = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    sim = f @ f.T
    np.fill_diagonal(sim, -np.inf)
    top = np.argsort(-sim, axis=1)[:, : k - 1]
    weights = np.exp((np.take_along_axis(sim, top, axis=1) - 1.0) / 0.07)
    votes = np.zeros((len(f), int(labels.max()) + 1))
    np.add.at(votes, (np.arange(len(f))[:, None], labels[top]), weights)
    return np.argmax(votes, axis=1)
