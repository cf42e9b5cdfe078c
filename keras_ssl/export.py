"""Export backbones as SavedModels for serving, and load them back.

`export_backbone(encoder, path)` writes a TensorFlow SavedModel whose
`serving_default` signature takes a batch of raw images (float32 values in
[0, 255]; a second signature `serving_uint8` takes uint8) and returns the
embeddings. The preprocessing (cast and rescale) is part of the graph, so a
client sends pixels as they are. Beside the SavedModel, under
`keras_ssl/`, the export keeps the encoder as a `.keras` file and a
`metadata.json`, because a SavedModel alone cannot be fine-tuned well in
Keras 3 (`TFSMLayer(trainable=True)` keeps batch norm in inference mode and
breaks with Adam; see `load_backbone`). TF Serving ignores that folder.

The export is written to a temporary folder beside `path` and renamed into
place, so an interrupted export never leaves a half-written model at `path`.
"""

import json
import os
import shutil

import keras
import tensorflow as tf

from keras_ssl.export_text import export_text_encoder  # noqa: F401 (public here too)
from keras_ssl.export_clip import export_clip  # noqa: F401 (public here too)
from keras_ssl.export_text import frozen_copies
from keras_ssl.files import replace_atomically
from keras_ssl.files import staging_dir
from keras_ssl.methods.ssl_method import encoder_feature_dim
from keras_ssl.version import __version__

KERAS_SUBDIR = "keras_ssl"
KERAS_FILENAME = "encoder.keras"
METADATA_FILENAME = "metadata.json"


def _frozen_module(encoder, input_shape, input_name="images"):
    """A `tf.Module` serving `encoder` from non-trainable copies of its weights.

    The SavedModel is for serving and frozen features, so its variables are
    saved as non-trainable: `keras.layers.TFSMLayer` then exposes no trainable
    weights and works inside a model compiled with any optimizer (with
    trainable SavedModel variables, Adam fails on their names). Fine-tuning
    uses the `.keras` copy. `keras.StatelessScope` runs the encoder with the
    frozen copies in place of its own variables.
    """
    module = tf.Module()
    module.weights, mapping = frozen_copies(encoder.variables)

    def embed(images):
        with keras.StatelessScope(state_mapping=mapping):
            features = encoder(tf.cast(images, "float32"), training=False)
        return tf.cast(features, "float32")

    def named(inputs):
        return {"embeddings": embed(inputs)}

    spec = (None,) + tuple(input_shape)
    # Named outputs for serving clients (TF Serving, saved_model_cli)...
    module.signature_float32 = tf.function(
        named, input_signature=[tf.TensorSpec(spec, tf.float32, name=input_name)]
    )
    # ...and a plain tensor for `TFSMLayer(path, call_endpoint=
    # "serving_default")`, which calls this attribute before the signature,
    # so the layer drops into a functional model like any other.
    module.serving_default = tf.function(
        embed, input_signature=[tf.TensorSpec(spec, tf.float32, name=input_name)]
    )
    if input_name in ("images", "videos"):
        module.signature_uint8 = tf.function(
            named, input_signature=[tf.TensorSpec(spec, tf.uint8, name=input_name)]
        )
        module.serving_uint8 = tf.function(
            embed, input_signature=[tf.TensorSpec(spec, tf.uint8, name=input_name)]
        )
    return module


def _input_kind(encoder):
    """Return "images" for (H, W, C) inputs of fixed size, "videos" for
    (T, H, W, C) clips of fixed size, "series" for (T, C) inputs (T may be
    None); a clear error otherwise."""
    input_shape = tuple(encoder.input_shape[1:])
    if len(input_shape) == 3 and all(d is not None for d in input_shape):
        return "images"
    if len(input_shape) == 4 and all(d is not None for d in input_shape):
        return "videos"
    if len(input_shape) == 2 and input_shape[-1] is not None:
        return "series"
    raise ValueError(
        "`encoder` must take images of a fixed shape (H, W, C), clips (T, H, W, C) or series "
        f"(T, C), got input shape {encoder.input_shape}."
    )


def select_encoder(model, teacher=False):
    """The encoder to export: `model` itself, or the student (default) or
    teacher (`teacher=True`) encoder of a pretraining method: a momentum
    teacher's copy of the encoder, or a `Distillation`'s teacher."""
    from keras_ssl.methods.ssl_method import PretrainingModel

    if isinstance(model, PretrainingModel):
        if not teacher:
            return model.encoder
        momentum_teacher = getattr(model, "teacher", None)
        if momentum_teacher is None:
            raise ValueError(
                f"`teacher`=True, but {type(model).__name__} has no momentum teacher "
                "(MoCo, BYOL and DINO have one)."
            )
        if isinstance(momentum_teacher, keras.Model):  # Distillation's frozen teacher
            return momentum_teacher
        return momentum_teacher.teacher_layers[0]
    if teacher:
        raise ValueError(
            "`teacher`=True needs the pretraining method (e.g. a BYOL model) as "
            f"`encoder`, got a {type(model).__name__} without a teacher."
        )
    return model


def export_backbone(encoder, path, overwrite=False, include_keras=True, teacher=False):
    """Export an encoder as a SavedModel with a serving signature.

    Args:
        encoder: a `keras.Model` mapping images (N, H, W, C) in [0, 255] to
            features (N, D), such as `model.encoder` of a pretraining method;
            or the method itself, whose student encoder is exported. Series
            encoders (inputs (N, T, C), T may vary) export the same way,
            with a float32 `series` input and no uint8 signature; video
            encoders (clips (N, T, H, W, C)) with a `videos` input, float32
            and uint8.
        path: folder to write. Must not exist unless `overwrite=True`.
        overwrite: replace an existing folder at `path`.
        include_keras: also store the encoder as `keras_ssl/encoder.keras`
            inside the export, so `load_backbone(path, trainable=True)` can
            fine-tune it.
        teacher: with a method that has a momentum teacher (MoCo, BYOL,
            DINO) as `encoder`, export the teacher's encoder instead of the
            student's (DINO's paper evaluates the teacher).

    Returns:
        `path`.

    Signatures:
        `serving_default`: `images` float32 (None, H, W, C), values in
        [0, 255] -> `embeddings` float32 (None, D).
        `serving_uint8`: the same for uint8 images.

    Example:

    >>> import keras_ssl, tempfile, os
    >>> encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8,))
    >>> out = keras_ssl.export.export_backbone(
    ...     encoder, os.path.join(tempfile.mkdtemp(), "encoder"))
    >>> sorted(keras_ssl.export.signatures(out))
    ['serving_default', 'serving_uint8']
    """
    encoder = select_encoder(encoder, teacher)
    feature_dim = encoder_feature_dim(encoder)
    input_shape = tuple(encoder.input_shape[1:])
    kind = _input_kind(encoder)
    path, parent, tmp_dir = staging_dir(path, overwrite)
    try:
        module = _frozen_module(encoder, input_shape, input_name=kind)
        export_dir = os.path.join(tmp_dir, "model")
        signatures = {"serving_default": module.signature_float32}
        if kind in ("images", "videos"):
            signatures["serving_uint8"] = module.signature_uint8
        tf.saved_model.save(module, export_dir, signatures=signatures)
        extra = os.path.join(export_dir, KERAS_SUBDIR)
        os.makedirs(extra, exist_ok=True)
        if include_keras:
            encoder.save(os.path.join(extra, KERAS_FILENAME))
        metadata = {
            "format": "keras_ssl.backbone",
            "keras_ssl_version": __version__,
            "input_shape": list(input_shape),
            "feature_dim": feature_dim,
            "encoder_class": type(encoder).__name__,
            "input_kind": kind,
            "signatures": {
                name: {"input": f"{kind} ({'uint8' if name.endswith('uint8') else 'float32'})",
                       "output": "embeddings"}
                for name in signatures
            },
            "has_keras_copy": bool(include_keras),
        }
        with open(os.path.join(extra, METADATA_FILENAME), "w") as f:
            json.dump(metadata, f, indent=2)
        staged = os.path.join(parent, os.path.basename(tmp_dir) + "-ready")
        os.rename(export_dir, staged)
        shutil.rmtree(tmp_dir, ignore_errors=True)
        tmp_dir = staged
        replace_atomically(tmp_dir, path, overwrite)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return path


def _check_saved_model_dir(path, argument="path"):
    if not os.path.exists(path):
        raise FileNotFoundError(f"`{argument}` {path!r} does not exist.")
    if not os.path.isdir(path):
        raise ValueError(
            f"`{argument}` {path!r} is a file, not a SavedModel folder (nor a "
            "`.keras` file)."
        )
    if not os.path.exists(os.path.join(path, "saved_model.pb")):
        raise ValueError(
            f"`{argument}` {path!r} is not a SavedModel: it has no "
            "saved_model.pb. Export one with keras_ssl.export.export_backbone."
        )


def read_metadata(path):
    """The `metadata.json` of a keras_ssl export, or None for other SavedModels."""
    meta = os.path.join(os.fspath(path), KERAS_SUBDIR, METADATA_FILENAME)
    if not os.path.exists(meta):
        return None
    try:
        with open(meta) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(
            f"The keras_ssl metadata at {meta!r} is corrupt: {e}"
        ) from e


def signatures(path):
    """Names of the serving signatures of a SavedModel folder."""
    path = os.fspath(path)
    _check_saved_model_dir(path)
    try:
        loaded = tf.saved_model.load(path)
    except Exception as e:  # TensorFlow raises several types for bad files.
        raise ValueError(
            f"`path` {path!r} could not be read as a SavedModel: {e}"
        ) from e
    return list(loaded.signatures.keys())


def load_backbone(path, trainable=False, safe_mode=True, endpoint="serving_default"):
    """Load an exported backbone as a Keras object ready for `model.fit`.

    Args:
        path: a folder written by `export_backbone`, or a `.keras` file.
        trainable: `False` (default) gives a frozen feature extractor: a
            `keras.layers.TFSMLayer` on the SavedModel's signature, usable
            inside any model you `fit` (the head trains, the backbone does
            not). `True` gives the Keras encoder stored with the export (or
            the `.keras` file), with all weights trainable, for fine-tuning.
        safe_mode: passed to `keras.saving.load_model` for `.keras` files.
            Keep it on unless you trust the file: it refuses to run code
            (lambdas) stored inside the file.
        endpoint: the signature used when `trainable=False`.

    Returns:
        A layer or model mapping images (N, H, W, C) in [0, 255] to (N, D).
    """
    path = os.fspath(path)
    if path.endswith(".keras"):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"`path` {path!r} does not exist.")
        return keras.saving.load_model(path, safe_mode=safe_mode)
    _check_saved_model_dir(path)
    metadata = read_metadata(path)
    if trainable:
        keras_path = os.path.join(path, KERAS_SUBDIR, KERAS_FILENAME)
        if metadata is None or not os.path.exists(keras_path):
            raise ValueError(
                f"`path` {path!r} holds no Keras copy of the encoder, so it "
                "cannot be fine-tuned: export it with keras_ssl.export."
                "export_backbone(..., include_keras=True), or load it frozen "
                "with trainable=False."
            )
        return keras.saving.load_model(keras_path, safe_mode=safe_mode)
    try:
        layer = keras.layers.TFSMLayer(
            path, call_endpoint=endpoint, trainable=False
        )
    except Exception as e:  # Corrupt protobufs raise several error types.
        raise ValueError(
            f"`path` {path!r} could not be loaded as a SavedModel with "
            f"signature {endpoint!r}: {e}"
        ) from e
    return layer

