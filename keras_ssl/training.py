"""End-to-end runs: pretrain a method into a run folder, probe, export.

These functions are what the `keras-ssl` command calls; they are public so
that scripts and notebooks can run the same pipeline. Every run writes one
folder:

```
RUN_DIR/
  config.json        every setting of the run
  history.json       per-epoch metrics (metric name -> list)
  logs/              TensorBoard event files
  checkpoints/       backup for resuming an interrupted run
  model.keras        the trained method (encoder, heads, augmenter)
  encoder/           SavedModel export of the encoder (serving_default)
  results.json       evaluation results, when probed
  *.png              plots
```
"""

import json
import os
import sys
import time

import keras
import numpy as np

from keras_ssl import backbones as backbones_lib
from keras_ssl import datasets as datasets_lib
from keras_ssl.utils import check_choice

METHODS = ("simclr", "rotation", "mae", "denoising")

# Per-method defaults; anything passed explicitly wins. MAE needs a ViT.
METHOD_DEFAULTS = {
    "simclr": {"batch_size": 256, "learning_rate": 1e-3},
    "rotation": {"batch_size": 128, "learning_rate": 1e-3},
    "mae": {"batch_size": 128, "learning_rate": 1.5e-3, "backbone": "vit"},
    "denoising": {"batch_size": 128, "learning_rate": 1e-3},
}

# Small-ViT settings used when the CLI builds a "vit" backbone by name.
VIT_DEFAULTS = {"hidden_dim": 128, "num_layers": 4, "num_heads": 4}


def available_methods():
    """Names accepted by `build_method` and `keras-ssl pretrain --method`."""
    return list(METHODS)


def build_method(name, encoder, seed=None, **kwargs):
    """Create the pretraining method `name` around `encoder`."""
    from keras_ssl import methods

    check_choice("method", name, available_methods())
    classes = {
        "simclr": methods.SimCLR,
        "rotation": methods.RotationPrediction,
        "mae": methods.MaskedAutoencoder,
        "denoising": methods.DenoisingAutoencoder,
    }
    return classes[name](encoder, seed=seed, **kwargs)


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (tuple, set)):
        return list(value)
    return str(value)


def write_json(path, payload):
    """Write JSON atomically (temporary file, then rename)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, default=_json_default)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path):
    with open(path) as f:
        return json.load(f)


class HistoryWriter(keras.callbacks.Callback):
    """Write each epoch's logs to `history.json` (metric -> per-epoch list).

    A run resumed from a checkpoint keeps the epochs recorded before the
    interruption: entries past the resumed epoch are dropped and new ones
    appended, so the lists always have one value per finished epoch.
    `start_epochs` lists the epoch each `fit` call (re)started at.
    """

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.history = read_json(path) if os.path.exists(path) else {}
        self.start_epochs = []
        self._started = False

    def on_train_begin(self, logs=None):
        self._started = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self._started:
            self.start_epochs.append(int(epoch))
            self._started = True

    def on_epoch_end(self, epoch, logs=None):
        for key in list(self.history):
            self.history[key] = self.history[key][:epoch]
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.history.setdefault("epoch_end_time", []).append(time.time())
        write_json(self.path, self.history)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose backups are written then renamed into place.

    Keras writes the backup weights in place, so a run killed during the
    write leaves a truncated file that the restarted run cannot open. Here
    each file is written beside its final name and moved over it with
    `os.replace`, so the backup on disk is always a complete one.
    """

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        tmp_weights = self._weights_path.replace(".weights.h5", ".tmp.weights.h5")
        self.model.save_weights(filepath=tmp_weights, overwrite=True)
        os.replace(tmp_weights, self._weights_path)
        tmp_meta = self._training_metadata_path + ".tmp"
        with open(tmp_meta, "w") as f:
            f.write(json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))
        os.replace(tmp_meta, self._training_metadata_path)


class TimeBudget(keras.callbacks.Callback):
    """Stop training once `minutes` of wall-clock time have been spent.

    Checked after every batch, so the run ends mid-epoch when the budget is
    over; the epoch count reached is in the history.
    """

    def __init__(self, minutes):
        super().__init__()
        self.seconds = float(minutes) * 60.0
        self.start = None
        self.stopped_early = False

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        if time.time() - self.start > self.seconds:
            self.stopped_early = True
            self.model.stop_training = True


def load_images(dataset, data_dir=None, limit=None, seed=0):
    """Load a named dataset; optionally keep `limit` training images."""
    (x_train, y_train), (x_test, y_test) = datasets_lib.load(
        dataset, data_dir=data_dir
    )
    if limit is not None and limit < len(x_train):
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(x_train), size=int(limit), replace=False))
        x_train, y_train = x_train[keep], y_train[keep]
    return (x_train, y_train), (x_test, y_test)


def build_encoder(backbone, input_shape, width_multiplier=None, **kwargs):
    """Build a backbone by name for images of `input_shape`.

    `vit` gets a small configuration (`VIT_DEFAULTS`) and the largest patch
    size among 4, 2, 1 that cuts the image into at least 16 patches, unless
    given in `kwargs`.
    """
    if width_multiplier is not None and backbone.startswith("resnet"):
        kwargs["width_multiplier"] = width_multiplier
    if backbone.startswith("vit"):
        if backbone == "vit":
            for key, value in VIT_DEFAULTS.items():
                kwargs.setdefault(key, value)
        if "patch_size" not in kwargs:
            height, width = input_shape[0], input_shape[1]
            # The largest patch that divides the image into at least 16 patches.
            kwargs["patch_size"] = next(
                p for p in (4, 2, 1)
                if height % p == 0 and width % p == 0 and (height // p) * (width // p) >= 16
            )
    return backbones_lib.get(backbone, input_shape=tuple(input_shape), **kwargs)


PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def pretrain(
    out,
    method="simclr",
    dataset="digits",
    backbone=None,
    epochs=10,
    batch_size=None,
    learning_rate=None,
    width_multiplier=0.25,
    seed=0,
    limit=None,
    data_dir=None,
    budget_minutes=None,
    method_kwargs=None,
    backbone_kwargs=None,
    verbose="auto",
    export=True,
    overwrite=False,
    jit_compile="auto",
    precision="float32",
):
    """Pretrain `method` on `dataset` and write everything to folder `out`.

    `jit_compile` goes to `compile` (`"auto"`: XLA on a GPU, off on a
    CPU). `precision` is the Keras dtype policy the method is built under:
    `"float32"`, or `"mixed_float16"` / `"mixed_bfloat16"` (float32 weights,
    half-precision compute, loss scaling by the optimizer); the global
    policy is restored afterwards.

    Returns a dict with the run folder, the trained method and the data.
    Arguments are validated before any data is loaded or model built.
    """
    check_choice("method", method, available_methods())
    check_choice("jit_compile", jit_compile, ("auto", True, False))
    check_choice("precision", precision, PRECISIONS)
    check_choice("dataset", dataset, datasets_lib.available())
    defaults = METHOD_DEFAULTS.get(method, {})
    backbone = backbone or defaults.get("backbone", "resnet18")
    check_choice("backbone", backbone, backbones_lib.available())
    if method == "mae" and not backbone.startswith("vit"):
        raise ValueError(
            f"`backbone` {backbone!r} cannot be used with method 'mae': masked "
            "autoencoders need a ViT backbone (vit, vit_tiny, vit_small)."
        )
    batch_size = int(batch_size or defaults.get("batch_size", 128))
    learning_rate = float(learning_rate or defaults.get("learning_rate", 1e-3))
    if int(epochs) < 1:
        raise ValueError(f"`epochs` must be >= 1, got {epochs!r}.")
    if batch_size < 2:
        raise ValueError(
            f"`batch_size` must be >= 2 for self-supervised methods, got {batch_size}."
        )
    if os.path.exists(os.path.join(out, "model.keras")) and not overwrite:
        raise FileExistsError(
            f"`out` {out!r} already holds a finished run (model.keras). "
            "Choose another folder or pass overwrite=True (--overwrite)."
        )
    os.makedirs(out, exist_ok=True)
    config = {
        "method": method,
        "dataset": dataset,
        "backbone": backbone,
        "epochs": int(epochs),
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "width_multiplier": width_multiplier,
        "seed": seed,
        "limit": limit,
        "budget_minutes": budget_minutes,
        "method_kwargs": method_kwargs or {},
        "backbone_kwargs": backbone_kwargs or {},
        "jit_compile": jit_compile,
        "precision": precision,
        "keras_version": keras.__version__,
    }
    write_json(os.path.join(out, "config.json"), config)

    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load_images(
        dataset, data_dir=data_dir, limit=limit, seed=seed
    )
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        encoder = build_encoder(backbone, x_train.shape[1:], width_multiplier,
                                **(backbone_kwargs or {}))
        model = build_method(method, encoder, seed=seed, **(method_kwargs or {}))
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    model.compile(
        jit_compile=jit_compile,
        optimizer=keras.optimizers.AdamW(
            learning_rate=keras.optimizers.schedules.CosineDecay(
                learning_rate,
                decay_steps=max(1, int(epochs) * (len(x_train) // batch_size)),
                alpha=0.05,
            ),
            weight_decay=1e-4,
        )
    )
    train_ds = datasets_lib.make_dataset(
        x_train, batch_size=batch_size, shuffle=True, drop_remainder=True, seed=seed
    )
    history_writer = HistoryWriter(os.path.join(out, "history.json"))
    callbacks = [
        history_writer,
        keras.callbacks.TensorBoard(os.path.join(out, "logs"), update_freq="epoch"),
        AtomicBackupAndRestore(os.path.join(out, "checkpoints")),
    ]
    budget = None
    if budget_minutes:
        budget = TimeBudget(budget_minutes)
        callbacks.append(budget)
    if verbose == "auto" and not sys.stdout.isatty():
        verbose = 2  # one line an epoch in logs instead of a redrawn bar
    start = time.time()
    model.fit(
        train_ds, epochs=int(epochs), callbacks=callbacks, verbose=verbose, shuffle=False
    )
    seconds = time.time() - start
    # Save then rename, so a crash never leaves a half-written model.keras.
    model.save(os.path.join(out, "model.tmp.keras"))
    os.replace(os.path.join(out, "model.tmp.keras"), os.path.join(out, "model.keras"))
    summary = {
        "pretrain_seconds": seconds,
        "epochs_completed": len(history_writer.history.get("loss", [])),
        "stopped_by_budget": bool(budget and budget.stopped_early),
        "start_epochs": history_writer.start_epochs,
        "final_loss": history_writer.history.get("loss", [float("nan")])[-1],
        "num_train_images": int(len(x_train)),
    }
    write_json(os.path.join(out, "pretrain.json"), summary)
    if export:
        from keras_ssl.export import export_backbone

        export_backbone(model.encoder, os.path.join(out, "encoder"), overwrite=True)
    return {
        "run_dir": out,
        "model": model,
        "config": config,
        "summary": summary,
        "data": ((x_train, y_train), (x_test, y_test)),
    }


def load_run_encoder(run_dir):
    """The trained encoder of a run folder (from its model.keras)."""
    path = os.path.join(run_dir, "model.keras")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"`run` {run_dir!r} has no model.keras: it is not a finished "
            "keras-ssl pretraining run."
        )
    return keras.saving.load_model(path).encoder


def probe(
    encoder,
    dataset,
    fractions=(0.01, 1.0),
    seed=0,
    data_dir=None,
    data=None,
    knn=True,
):
    """Linear probe (and kNN) accuracy of `encoder` for each label fraction.

    Returns {"linear_probe@1%": acc, ..., "knn@100%": acc}.
    """
    from keras_ssl import evaluation

    if data is None:
        data = datasets_lib.load(dataset, data_dir=data_dir)
    (x_train, y_train), (x_test, y_test) = data
    features_train = evaluation.extract_features(encoder, x_train)
    features_test = evaluation.extract_features(encoder, x_test)
    results = {}
    for fraction in fractions:
        label = f"{fraction * 100:g}%"
        if fraction >= 1.0:
            idx = np.arange(len(x_train))
        else:
            idx = _subset_indices(y_train, fraction, seed)
        results[f"linear_probe@{label}"] = evaluation.linear_probe(
            None,
            (features_train[idx], y_train[idx]),
            (features_test, y_test),
            precomputed=True,
        )
        if knn:
            results[f"knn@{label}"] = evaluation.knn_accuracy(
                None,
                (features_train[idx], y_train[idx]),
                (features_test, y_test),
                precomputed=True,
            )
    return results


def _subset_indices(y, fraction, seed):
    """Indices of a class-stratified label subset (as datasets.label_subset)."""
    chosen, _ = datasets_lib.label_subset(
        np.arange(len(y)), y, fraction=fraction, seed=seed
    )
    return np.asarray(chosen)


TEXT_BACKBONES = ("bert_tiny", "bert_small")


def pretrain_text(
    out,
    corpus=None,
    min_length=20,
    max_texts=None,
    vocabulary_size=8000,
    vocabulary_texts=None,
    sequence_length=64,
    backbone="bert_tiny",
    backbone_kwargs=None,
    batch_size=64,
    epochs=3,
    learning_rate=5e-4,
    mask_rate=0.15,
    budget_minutes=None,
    seed=0,
    verbose="auto",
    held_out_fraction=0.02,
):
    """Masked-LM pretraining of a BERT on a corpus, into run folder `out`.

    Reads the corpus (a file, folder or list; None: Shakespeare), holds out
    a fraction of the lines, trains a WordPiece vocabulary, pretrains, and
    writes config.json, history.json, TensorBoard logs, vocabulary.txt,
    model.keras and the string-in SavedModel `text_encoder/`. Returns the
    trained model, a factory for the same architecture randomly
    initialised (`new_model`), and a summary (masked-token accuracy on the
    held-out lines, tokens per second of the train step).
    """
    import math

    import tensorflow as tf

    from keras_ssl import backbones, methods, text
    from keras_ssl.datasets import read_texts
    from keras_ssl.export import export_text_encoder

    check_choice("backbone", backbone, TEXT_BACKBONES)
    if int(batch_size) < 1 or int(epochs) < 1:
        raise ValueError(
            f"`batch_size` and `epochs` must be >= 1, got {batch_size!r} and {epochs!r}."
        )
    os.makedirs(out, exist_ok=True)
    config = {k: v for k, v in locals().items()
              if k in ("corpus", "min_length", "max_texts", "vocabulary_size", "vocabulary_texts",
                       "sequence_length", "backbone", "backbone_kwargs", "batch_size", "epochs",
                       "learning_rate", "mask_rate", "budget_minutes", "seed")}
    config["method"] = "mlm"
    write_json(os.path.join(out, "config.json"), config)
    keras.utils.set_random_seed(seed)
    texts = read_texts(corpus, min_length=min_length)
    order = np.random.default_rng(seed).permutation(len(texts))
    texts = [texts[i] for i in order]
    if max_texts:
        texts = texts[: int(max_texts)]
    held_out = texts[: max(16, int(len(texts) * held_out_fraction))]
    train_texts = texts[len(held_out):]
    if len(train_texts) < batch_size:
        raise ValueError(
            f"The corpus has {len(train_texts)} training texts, fewer than `batch_size` "
            f"({batch_size})."
        )
    tokenizer = text.train_wordpiece(
        train_texts, vocabulary_size=vocabulary_size, lowercase=True, max_texts=vocabulary_texts
    )
    builder = {"bert_tiny": backbones.BertTiny, "bert_small": backbones.BertSmall}[backbone]

    def new_model():
        return methods.MaskedLanguageModel(
            builder(tokenizer.vocabulary_size(), max_sequence_length=sequence_length,
                    **(backbone_kwargs or {})),
            tokenizer, sequence_length=sequence_length, mask_rate=mask_rate,
        )

    model = new_model()
    steps = int(epochs) * (len(train_texts) // int(batch_size))
    model.compile(optimizer=keras.optimizers.AdamW(
        keras.optimizers.schedules.CosineDecay(learning_rate, max(1, steps), alpha=0.05),
        weight_decay=0.01))
    train_ds = (tf.data.Dataset.from_tensor_slices(train_texts)
                .shuffle(len(train_texts), seed=seed)
                .batch(int(batch_size), drop_remainder=True)
                .prefetch(tf.data.AUTOTUNE))
    history_writer = HistoryWriter(os.path.join(out, "history.json"))
    callbacks = [history_writer,
                 keras.callbacks.TensorBoard(os.path.join(out, "logs"), update_freq="epoch")]
    timer = TimeBudget(budget_minutes) if budget_minutes else None
    if timer:
        callbacks.append(timer)
    if verbose == "auto" and not sys.stdout.isatty():
        verbose = 2
    start = time.time()
    history = model.fit(train_ds, epochs=int(epochs), callbacks=callbacks, verbose=verbose)
    seconds = time.time() - start
    steps_done = int(model.optimizer.iterations.numpy())
    held = model.evaluate(tf.data.Dataset.from_tensor_slices(held_out).batch(int(batch_size)),
                          verbose=0, return_dict=True)
    model.save(os.path.join(out, "model.tmp.keras"))
    os.replace(os.path.join(out, "model.tmp.keras"), os.path.join(out, "model.keras"))
    export_text_encoder(model, os.path.join(out, "text_encoder"), overwrite=True)
    text.save_vocabulary(tokenizer, os.path.join(out, "vocabulary.txt"))
    summary = {
        "pretrain_seconds": seconds,
        "epochs_completed": len(history.history.get("loss", [])),
        "steps": steps_done,
        "stopped_by_budget": bool(timer and timer.stopped_early),
        "final_loss": float(history.history["loss"][-1]),
        "train_masked_accuracy": float(history.history["masked_accuracy"][-1]),
        "held_out_masked_accuracy": float(held["masked_accuracy"]),
        "held_out_perplexity": float(held["perplexity"]),
        "tokens_per_second": steps_done * int(batch_size) * sequence_length / seconds,
        "num_texts": len(train_texts),
        "num_held_out": len(held_out),
        "vocabulary_size": int(tokenizer.vocabulary_size()),
    }
    if not math.isfinite(summary["final_loss"]):
        raise ValueError("Pretraining ended with a non-finite loss.")
    write_json(os.path.join(out, "pretrain.json"), summary)
    return {"run_dir": out, "model": model, "new_model": new_model, "summary": summary,
            "config": config}


def evaluate_text(model, new_model, fractions=(0.01, 0.1, 1.0), seed=0, batch_size=32,
                  min_steps=300, min_epochs=3, learning_rate=2e-4, max_test=None,
                  max_epochs=None):
    """Fine-tune on SMS spam with each label fraction: pretrained vs random.

    Returns {"pretrained": {...}, "random_init": {...}} with test accuracy,
    macro F1 and the epochs used, keyed like "accuracy@10%". Each
    fine-tuning runs at least `min_steps` steps (so 1% of the labels gets
    as many updates as 100%) and `min_epochs` epochs.
    """
    import math

    from keras_ssl import datasets, evaluation

    (x_train, y_train), (x_test, y_test) = datasets.load_sms_spam(seed=seed)
    if max_test:
        x_test, y_test = x_test[:max_test], y_test[:max_test]
    results = {"pretrained": {}, "random_init": {}}
    for fraction in fractions:
        label = f"{fraction * 100:g}%"
        if fraction >= 1.0:
            xs, ys = x_train, y_train
        else:
            xs, ys = datasets.label_subset(x_train, y_train, fraction=fraction, seed=seed)
        epochs = max(int(min_epochs), math.ceil(min_steps * batch_size / len(xs)))
        if max_epochs:
            epochs = min(epochs, int(max_epochs))
        for name in ("pretrained", "random_init"):
            keras.utils.set_random_seed(seed + 7)
            source = model if name == "pretrained" else new_model()
            clf = evaluation.text_classifier(source, num_classes=2, learning_rate=learning_rate)
            clf.fit(xs, ys, epochs=epochs, batch_size=batch_size, verbose=0)
            predictions = np.argmax(clf.predict(x_test, batch_size=256, verbose=0), axis=-1)
            report = evaluation.classification_report(y_test, predictions)
            results[name][f"accuracy@{label}"] = report["accuracy"]
            results[name][f"macro_f1@{label}"] = report["macro_f1"]
            results[name][f"epochs@{label}"] = epochs
    return results
