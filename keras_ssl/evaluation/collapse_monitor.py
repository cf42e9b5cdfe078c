"""A callback that stops pretraining when the embeddings collapse."""

import math

import keras


class CollapseMonitor(keras.callbacks.Callback):
    """Stop `fit` when a joint-embedding method's embeddings collapse.

    Collapse (every image mapped to nearly the same point) is the failure
    users of negative-free methods meet first: the loss can still look
    fine. Every `JointEmbeddingMethod` logs `embedding_std`, the standard
    deviation per dimension of its L2-normalised embeddings, averaged:
    about `1 / sqrt(D)` for embeddings spread over the sphere, 0 when
    collapsed (Chen and He 2021). This callback reads it every `every`
    batches (the epoch's running mean) and at each epoch end; after
    `patience` readings in a row below `min_std` it stops training and says
    why. `collapsed` then holds where it happened.

    Args:
        min_std: the threshold; default `fraction / sqrt(D)` with D the
            method's `embedding_dim`.
        fraction: see `min_std` (default 0.1: a tenth of a healthy value).
        patience: readings in a row below the threshold before stopping.
        every: batches between readings (0: epoch ends only).
        verbose: print the message (it is also kept in `message`).
    """

    def __init__(self, min_std=None, fraction=0.1, patience=2, every=50, verbose=1):
        super().__init__()
        if min_std is not None and min_std <= 0:
            raise ValueError(f"`min_std` must be > 0, got {min_std!r}.")
        if not 0 < fraction < 1:
            raise ValueError(f"`fraction` must lie in (0, 1), got {fraction!r}.")
        if int(patience) < 1:
            raise ValueError(f"`patience` must be >= 1, got {patience!r}.")
        if int(every) < 0:
            raise ValueError(f"`every` must be >= 0, got {every!r}.")
        self.min_std = min_std
        self.fraction = float(fraction)
        self.patience = int(patience)
        self.every = int(every)
        self.verbose = verbose
        self.collapsed = None
        self.message = None
        self._strikes = 0
        self._epoch = 0

    def threshold(self):
        if self.min_std is not None:
            return float(self.min_std)
        dim = getattr(self.model, "embedding_dim", None)
        if not dim:
            raise ValueError(
                "CollapseMonitor needs `min_std` for a model without an "
                "`embedding_dim` attribute (keras_ssl's joint-embedding methods have one)."
            )
        return self.fraction / math.sqrt(dim)

    def on_train_begin(self, logs=None):
        self._strikes = 0
        self.collapsed = None
        self.message = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.every and (batch + 1) % self.every == 0:
            self._read(logs, batch=batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self._read(logs, batch=None)

    def _read(self, logs, batch):
        if self.collapsed is not None:
            return
        value = (logs or {}).get("embedding_std")
        if value is None:
            raise ValueError(
                "CollapseMonitor reads the `embedding_std` log, which this model "
                f"({type(self.model).__name__}) does not write. Use it with a "
                "keras_ssl joint-embedding method (SimCLR, MoCo, BYOL, SimSiam, "
                "BarlowTwins, VICReg, DINO)."
            )
        value = float(value)
        threshold = self.threshold()
        self._strikes = self._strikes + 1 if value < threshold else 0
        if self._strikes < self.patience:
            return
        where = f"epoch {self._epoch + 1}" + (f", batch {batch}" if batch else "")
        self.collapsed = {"epoch": self._epoch + 1, "batch": batch, "embedding_std": value,
                          "threshold": threshold}
        self.message = (
            f"Embedding collapse at {where}: embedding_std {value:.5f} stayed below "
            f"{threshold:.5f} for {self.patience} readings (healthy embeddings spread "
            "over the sphere give about 1/sqrt(dim)); every image now maps to nearly "
            "the same point, so training was stopped. Usual causes: a learning rate "
            "too high, a momentum too low, a missing predictor or stop-gradient, or a "
            "batch too small for batch statistics."
        )
        self.model.stop_training = True
        if self.verbose:
            print("\n" + self.message)
