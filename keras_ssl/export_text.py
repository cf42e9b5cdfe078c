"""Export a pretrained text encoder as a string-in SavedModel.

The SavedModel's `serving_default` signature takes a batch of raw strings
(`texts`, tf.string, shape [None]) and returns `pooled_output` (N, H) and
`sequence_output` (N, sequence_length, H). Tokenization (the WordPiece
vocabulary is a lookup table inside the graph), packing and padding run in
the graph, so a client (TF Serving, `tf.saved_model.load`,
`keras.layers.TFSMLayer`) sends text as it is. Beside it, under
`keras_ssl/`, the export keeps the whole text method (e.g.
`MaskedLanguageModel`) as a `.keras` file (to fine-tune), the vocabulary and
a `metadata.json`.
"""

import json
import os

import keras
import tensorflow as tf

from keras_ssl.files import staged_folder
from keras_ssl.version import __version__

KERAS_SUBDIR = "keras_ssl"
MODEL_FILENAME = "model.keras"
METADATA_FILENAME = "metadata.json"


def frozen_copies(variables):
    """Non-trainable copies of `variables` and the `(variable, copy)` pairs
    that `keras.StatelessScope(state_mapping=...)` runs a model with.

    The exports serve from such copies: a SavedModel is for serving and
    frozen features, and `keras.layers.TFSMLayer` then exposes no trainable
    weights, so it works inside a model compiled with any optimizer.
    """
    copies = [tf.Variable(v.value, trainable=False, name=v.path.replace("/", "_"))
              for v in variables]
    return copies, list(zip(variables, copies))


def _text_module(method):
    """A `tf.Module` serving `method`'s encoder on raw strings.

    As for image exports, the variables are frozen copies (non-trainable),
    and `keras.StatelessScope` runs the backbone with them in place of its
    own variables. The tokenizer and packer are the ones used in training.
    """
    module = tf.Module()
    backbone = method.backbone
    module.weights, mapping = frozen_copies(backbone.variables)
    # Tracked so the vocabulary's lookup table is saved with the graph.
    module.tokenizer = method.tokenizer

    def embed(texts):
        token_ids, padding_mask = method.packer(method.tokenizer(texts))
        token_ids = tf.cast(token_ids, "int32")
        padding_mask = tf.cast(padding_mask, "bool")
        with keras.StatelessScope(state_mapping=mapping):
            outputs = method.backbone_outputs(token_ids, padding_mask, training=False)
            pooled = method.pool(outputs, padding_mask)
        return {
            "pooled_output": tf.cast(pooled, "float32"),
            "sequence_output": tf.cast(outputs["sequence_output"], "float32"),
        }

    module.serving_default = tf.function(
        embed, input_signature=[tf.TensorSpec([None], tf.string, name="texts")]
    )
    return module


def write_keras_copy(method, folder, metadata):
    """Beside a text SavedModel in `folder`: the whole `method` as a
    `.keras` file, its vocabulary and `metadata`, under `keras_ssl/`."""
    from keras_ssl.text import save_vocabulary
    from keras_ssl.text import vocabulary_filename

    extra = os.path.join(folder, KERAS_SUBDIR)
    os.makedirs(extra, exist_ok=True)
    method.save(os.path.join(extra, MODEL_FILENAME))
    save_vocabulary(method.tokenizer, os.path.join(extra, vocabulary_filename(method.tokenizer)))
    with open(os.path.join(extra, METADATA_FILENAME), "w") as f:
        json.dump(metadata, f, indent=2)


def export_text_encoder(method, path, overwrite=False):
    """Export a text method's encoder with its tokenizer.

    Args:
        method: a keras_ssl text method (`MaskedLanguageModel`,
            `CausalLanguageModel`, `SimCSE`).
        path: folder to write. Must not exist unless `overwrite=True`.
        overwrite: replace an existing folder at `path`.

    Returns:
        `path`.

    Signature `serving_default`: `texts` (tf.string, shape [None]) ->
    `pooled_output` float32 (None, hidden_dim; pooled as the method's
    `pooling` says, like `method(texts)`) and `sequence_output`
    float32 (None, sequence_length, hidden_dim). Any other input dtype is
    refused by the signature with an error naming the expected `string`.

    The export is written to a temporary folder beside `path` and renamed
    into place, so an interrupted export leaves nothing half-written.

    Example:

    >>> import keras_ssl, tempfile, os
    >>> texts = keras_ssl.datasets.load_text(["a b c", "b c d"])
    >>> tok = keras_ssl.text.train_wordpiece(texts, vocabulary_size=30)
    >>> bert = keras_ssl.backbones.BertTiny(tok.vocabulary_size(), max_sequence_length=8,
    ...                                     hidden_dim=16, intermediate_dim=16)
    >>> mlm = keras_ssl.methods.MaskedLanguageModel(bert, tok, sequence_length=8)
    >>> path = export_text_encoder(mlm, os.path.join(tempfile.mkdtemp(), "text"))
    >>> serve = tf.saved_model.load(path).signatures["serving_default"]
    >>> serve(tf.constant(["a b", "c"]))["sequence_output"].shape
    TensorShape([2, 8, 16])
    """
    from keras_ssl.methods.text_method import TextMethod

    if not isinstance(method, TextMethod):
        raise TypeError(
            "`method` must be a keras_ssl text method (MaskedLanguageModel, "
            f"CausalLanguageModel, SimCSE), got {type(method).__name__}."
        )
    with staged_folder(path, overwrite) as tmp_dir:
        module = _text_module(method)
        tf.saved_model.save(
            module, tmp_dir, signatures={"serving_default": module.serving_default}
        )
        write_keras_copy(method, tmp_dir, {
            "format": "keras_ssl.text_encoder",
            "keras_ssl_version": __version__,
            "method": type(method).__name__,
            "pooling": method.pooling,
            "sequence_length": method.sequence_length,
            "hidden_dim": int(method.backbone.hidden_dim),
            "vocabulary_size": int(method.backbone.vocabulary_size),
            "signatures": {
                "serving_default": {
                    "input": "texts (string, shape [None])",
                    "output": ["pooled_output", "sequence_output"],
                }
            },
        })
    return os.fspath(path)
