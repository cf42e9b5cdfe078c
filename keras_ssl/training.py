"""End-to-end runs: pretrain any method into a run folder, probe, export.

These functions are what the `keras-ssl` command and the zoo call; they are
public so that scripts and notebooks can run the same pipeline. One path
serves every modality (images, text, ...): what depends on the data comes
from the modality registry (`keras_ssl.modalities`). Every run writes one
folder:

```
RUN_DIR/
  config.json        every setting of the run
  history.json       per-epoch metrics (metric name -> list)
  pretrain.json      summary: time, epochs, optimizer steps, final loss
  logs/              TensorBoard event files (and Embedding Projector files)
  checkpoints/       backup for resuming an interrupted run
  model.keras        the trained method (encoder, heads, augmenter)
  encoder/           SavedModel export (text: text_encoder/, strings in)
  results.json       evaluation results, when probed
  *.png              plots
```
"""

import json
import math
import os
import sys
import time

import keras

from keras_ssl import modalities
from keras_ssl.files import read_json  # noqa: F401 (part of this module's API)
from keras_ssl.files import write_json
from keras_ssl.modalities.image import build_encoder  # noqa: F401
from keras_ssl.modalities.image import build_method  # noqa: F401
from keras_ssl.modalities.image import load_images  # noqa: F401
from keras_ssl.utils import check_choice

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def available_methods():
    """Names accepted by `pretrain(method=...)` and `keras-ssl pretrain --method`."""
    return modalities.available_methods()


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


class _InitialSteps(keras.callbacks.Callback):
    """The optimizer step `fit` starts from (after a resumed run's restore)."""

    initial = 0

    def on_train_begin(self, logs=None):
        self.initial = int(self.model.optimizer.iterations.numpy())


class TimeBudget(keras.callbacks.Callback):
    """Stop training once `minutes` of wall-clock time have been spent.

    Checked after every batch, so the run ends mid-epoch when the budget is
    over; the epoch count reached is in the history.
    """

    def __init__(self, minutes, spent_seconds=0.0):
        super().__init__()
        # `spent_seconds`: budget already used before `fit` (e.g. BEiT's
        # tokenizer), so that the whole run stays within `minutes`.
        self.seconds = float(minutes) * 60.0 - float(spent_seconds)
        self.start = None
        self.stopped_early = False

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        if time.time() - self.start > self.seconds:
            self.stopped_early = True
            self.model.stop_training = True


def pretrain(
    out,
    method="simclr",
    dataset=None,
    backbone=None,
    epochs=None,
    batch_size=None,
    learning_rate=None,
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
    init_preset=None,
    check_only=False,
    **options,
):
    """Pretrain `method` on `dataset` and write everything to folder `out`.

    Args:
        out: the run folder. A finished run there is kept unless
            `overwrite=True`; an interrupted one resumes from its last
            finished epoch.
        method: any registered method (`available_methods()`): image
            methods (simclr, moco, byol, simsiam, barlow, vicreg, dino,
            rotation, mae, simmim, beit, denoising), text (mlm, sop, clm,
            simcse), series (cpc, wav2vec2), video (videomae,
            frame_order) or image and text (clip). beit
            first trains its visual tokenizer on the same images
            (`method_kwargs` `tokenizer`, `tokenizer_epochs`), within the
            budget.
        dataset: images: a dataset name (`keras_ssl.datasets.available()`,
            default digits), or your own images streamed from disk: a
            folder tree of image files or TFRecord shards (a folder
            written by `datasets.write_tfrecords`, a file or a glob);
            text: a corpus (a file, a folder, or None for
            Shakespeare); video: a generated set of moving items
            (`keras_ssl.datasets.available_videos()`, default
            moving_fashion_mnist); image and text: "emoji" (the default)
            or a caption CSV (`datasets.load_image_text`).
        backbone: an encoder name (default: the method's).
        epochs, batch_size, learning_rate: training settings (defaults:
            the method's). AdamW with a cosine schedule.
        limit: use only this many training examples.
        budget_minutes: stop pretraining after this many minutes.
        method_kwargs, backbone_kwargs: passed to the method and the
            backbone.
        export: write the serving SavedModel into the run folder.
        jit_compile: to `compile` (`"auto"`: XLA on a GPU, off on a CPU).
        precision: the Keras dtype policy the method is built under
            (`"float32"`; image methods also `"mixed_float16"`,
            `"mixed_bfloat16"`); the global policy is restored afterwards.
        init_preset: continue from a preset's encoder instead of random
            weights: a zoo name (`keras_ssl.presets.available()`) or a
            preset folder of the same modality, verified against its
            SHA-256 sums. The preset fixes the backbone (leave `backbone`
            unset); text runs keep its tokenizer and sequence length; your
            own images are read at its size and channels unless
            `image_size` / `channels` say otherwise (a ResNet takes any
            size, a ViT only its own). Presets hold the encoder only: the
            method's head (projector, predictor, masked-LM transform)
            starts fresh.
        check_only: check a configuration before a long run: the settings
            are validated, the data loaded and the method built (and its
            batch size checked), then it returns without training or
            writing anything (`summary` is None).
        **options: modality options: images `width_multiplier` (ResNets,
            default 0.25), and for your own images `image_size` (an int or
            (height, width); default the first image's) and `channels`
            (1 or 3); text `sequence_length`, `vocabulary_size`,
            `vocabulary_texts`, `min_length`, `held_out_fraction`; video
            `frames`, `image_size` (the frames' side), `num_videos`,
            `num_test`, `num_objects`, `width_multiplier` (frame_order's
            ResNet); image and text `language`, `image_size`,
            `width_multiplier`, `vocabulary_size`, `min_frequency`,
            `sequence_length`, `embedding_dim`, `text_hidden_dim`,
            `text_layers`.

    Returns a dict: `run_dir`, `model` (the trained method), `config`,
    `summary`, `data` and `modality`. Arguments are validated before any
    data is loaded or model built.
    """
    modality = modalities.for_method(method)
    check_choice("jit_compile", jit_compile, ("auto", True, False))
    check_choice("precision", precision, PRECISIONS)
    config = modality.configure({
        "method": method,
        "modality": modality.name,
        "dataset": dataset,
        "backbone": backbone,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "seed": seed,
        "limit": limit,
        "budget_minutes": budget_minutes,
        "method_kwargs": method_kwargs or {},
        "backbone_kwargs": backbone_kwargs or {},
        "jit_compile": jit_compile,
        "precision": precision,
        "init_preset": None if init_preset is None else os.fspath(init_preset),
        "options": dict(options),
    })
    config["epochs"] = int(10 if config.get("epochs") is None else config["epochs"])
    config["batch_size"] = int(config["batch_size"])
    config["learning_rate"] = float(config["learning_rate"])
    if config["epochs"] < 1:
        raise ValueError(f"`epochs` must be >= 1, got {epochs!r}.")
    if config["batch_size"] < 1:
        raise ValueError(f"`batch_size` must be >= 1, got {batch_size!r}.")
    if check_only:
        data = modality.load_data(config, data_dir=data_dir)
        model = modality.build_model(config, data)
        model.check_fit_data(config["batch_size"])
        return {"run_dir": out, "model": model, "config": config, "summary": None,
                "data": data, "modality": modality}
    if os.path.exists(os.path.join(out, "model.keras")) and not overwrite:
        raise FileExistsError(
            f"`out` {out!r} already holds a finished run (model.keras). "
            "Choose another folder or pass overwrite=True (--overwrite)."
        )
    os.makedirs(out, exist_ok=True)
    config["keras_version"] = keras.__version__
    write_json(os.path.join(out, "config.json"), config)

    keras.utils.set_random_seed(seed)
    data = modality.load_data(config, data_dir=data_dir)
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        model = modality.build_model(config, data)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    steps = config["epochs"] * max(1, data["num_train"] // config["batch_size"])
    model.compile(
        jit_compile=jit_compile,
        optimizer=keras.optimizers.AdamW(
            learning_rate=keras.optimizers.schedules.CosineDecay(
                config["learning_rate"], decay_steps=max(1, steps), alpha=0.05),
            weight_decay=modality.weight_decay,
        ),
    )
    history_writer = HistoryWriter(os.path.join(out, "history.json"))
    callbacks = [
        history_writer,
        keras.callbacks.TensorBoard(os.path.join(out, "logs"), update_freq="epoch"),
        AtomicBackupAndRestore(os.path.join(out, "checkpoints")),
    ]
    steps_counter = _InitialSteps()  # after the backup callback, which restores first
    callbacks.append(steps_counter)
    budget = None
    if budget_minutes:
        budget = TimeBudget(budget_minutes, spent_seconds=data.get("setup_seconds", 0.0))
        callbacks.append(budget)
    if verbose == "auto" and not sys.stdout.isatty():
        verbose = 2  # one line an epoch in logs instead of a redrawn bar
    start = time.time()
    model.fit(modality.train_dataset(config, data), epochs=config["epochs"],
              callbacks=callbacks, verbose=verbose, shuffle=False)
    seconds = time.time() - start
    # Save then rename, so a crash never leaves a half-written model.keras.
    model.save(os.path.join(out, "model.tmp.keras"))
    os.replace(os.path.join(out, "model.tmp.keras"), os.path.join(out, "model.keras"))
    history = history_writer.history
    summary = {
        "pretrain_seconds": seconds,
        "epochs_completed": len(history.get("loss", [])),
        "steps": int(model.optimizer.iterations.numpy()),
        "stopped_by_budget": bool(budget and budget.stopped_early),
        "start_epochs": history_writer.start_epochs,
        "final_loss": history.get("loss", [float("nan")])[-1],
        "num_train": int(data["num_train"]),
    }
    # Of this fit call (a resumed run counts only the steps after resuming).
    summary["examples_per_second"] = (
        (summary["steps"] - steps_counter.initial) * config["batch_size"] / max(seconds, 1e-9))
    summary.update(modality.finish(model, data, config, out, history))
    if summary["steps"] > 0 and not math.isfinite(summary["final_loss"]):
        raise ValueError("Pretraining ended with a non-finite loss.")
    write_json(os.path.join(out, "pretrain.json"), summary)
    if export:
        modality.export(model, os.path.join(out, modality.export_dirname), overwrite=True)
    return {
        "run_dir": out,
        "model": model,
        "config": config,
        "summary": summary,
        "data": data,
        "modality": modality,
    }


def load_run(run_dir):
    """`(model, config, modality)` of a finished run folder."""
    path = os.path.join(run_dir, "model.keras")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"`run` {run_dir!r} has no model.keras: it is not a finished "
            "keras-ssl pretraining run."
        )
    config = read_json(os.path.join(run_dir, "config.json"))
    modality = modalities.of_results(config)
    return keras.saving.load_model(path), config, modality


def load_run_encoder(run_dir):
    """The trained encoder of a run folder (from its model.keras)."""
    model, _, modality = load_run(run_dir)
    return modality.encoder(model)


def probe(encoder, dataset, fractions=(0.01, 1.0), seed=0, data_dir=None, data=None,
          knn=True, modality="image"):
    """Linear probe (and kNN) accuracy of `encoder` for each label fraction.

    `encoder` is what the modality probes: an image encoder, or for text a
    `MaskedLanguageModel`. `data` (((x_train, y_train), (x_test, y_test)))
    skips loading `dataset`. Returns {"linear_probe@1%": acc, ...,
    "knn@100%": acc}.
    """
    modality = modalities.get(modality) if isinstance(modality, str) else modality
    if data is None:
        data = modality.eval_data_for(encoder, dataset, data_dir=data_dir, seed=seed)
    modality.check_compatible(encoder, data, "The encoder")
    return modality.probe(encoder, data, fractions, seed=seed, knn=knn)
