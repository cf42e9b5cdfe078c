"""Export a pretrained BERT text encoder as a string-in SavedModel.

The SavedModel's `serving_default` signature takes a batch of raw strings
(`texts`, tf.string, shape [None]) and returns `pooled_output` (N, H) and
`sequence_output` (N, sequence_length, H). Tokenization (the WordPiece
vocabulary is a lookup table inside the graph), packing and padding run in
the graph, so a client (TF Serving, `tf.saved_model.load`,
`keras.layers.TFSMLayer`) sends text as it is. Beside it, under
`keras_ssl/`, the export keeps the whole `MaskedLanguageModel` as a `.keras`
file (to fine-tune), the vocabulary and a `metadata.json`.
"""

import json
import os
import shutil

import keras
import tensorflow as tf

from keras_ssl.files import replace_atomically
from keras_ssl.files import staging_dir
from keras_ssl.version import __version__

KERAS_SUBDIR = "keras_ssl"
MODEL_FILENAME = "model.keras"
VOCABULARY_FILENAME = "vocabulary.txt"
METADATA_FILENAME = "metadata.json"


def _text_module(mlm):
    """A `tf.Module` serving `mlm`'s encoder on raw strings.

    As for image exports, the variables are frozen copies (non-trainable),
    and `keras.StatelessScope` runs the backbone with them in place of its
    own variables. The tokenizer and packer are the ones used in training.
    """
    module = tf.Module()
    backbone = mlm.backbone
    module.weights = [
        tf.Variable(v.value, trainable=False, name=v.path.replace("/", "_"))
        for v in backbone.variables
    ]
    mapping = list(zip(backbone.variables, module.weights))
    # Tracked so the vocabulary's lookup table is saved with the graph.
    module.tokenizer = mlm.tokenizer
    pad_id = mlm.special_token_ids["[PAD]"]

    def embed(texts):
        token_ids, _ = mlm.packer(mlm.tokenizer(texts))
        token_ids = tf.cast(token_ids, "int32")
        with keras.StatelessScope(state_mapping=mapping):
            outputs = backbone(
                {
                    "token_ids": token_ids,
                    "segment_ids": tf.zeros_like(token_ids),
                    "padding_mask": token_ids != pad_id,
                },
                training=False,
            )
        return {
            "pooled_output": tf.cast(outputs["pooled_output"], "float32"),
            "sequence_output": tf.cast(outputs["sequence_output"], "float32"),
        }

    module.serving_default = tf.function(
        embed, input_signature=[tf.TensorSpec([None], tf.string, name="texts")]
    )
    return module


def export_text_encoder(mlm, path, overwrite=False):
    """Export a `MaskedLanguageModel`'s BERT encoder with its tokenizer.

    Args:
        mlm: a `keras_ssl.methods.MaskedLanguageModel`.
        path: folder to write. Must not exist unless `overwrite=True`.
        overwrite: replace an existing folder at `path`.

    Returns:
        `path`.

    Signature `serving_default`: `texts` (tf.string, shape [None]) ->
    `pooled_output` float32 (None, hidden_dim) and `sequence_output`
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
    from keras_ssl.methods.masked_language_model import MaskedLanguageModel
    from keras_ssl.text import save_vocabulary

    if not isinstance(mlm, MaskedLanguageModel):
        raise TypeError(
            "`mlm` must be a keras_ssl.methods.MaskedLanguageModel, got "
            f"{type(mlm).__name__}."
        )
    path, _, tmp_dir = staging_dir(path, overwrite)
    try:
        module = _text_module(mlm)
        tf.saved_model.save(
            module, tmp_dir, signatures={"serving_default": module.serving_default}
        )
        extra = os.path.join(tmp_dir, KERAS_SUBDIR)
        os.makedirs(extra, exist_ok=True)
        mlm.save(os.path.join(extra, MODEL_FILENAME))
        save_vocabulary(mlm.tokenizer, os.path.join(extra, VOCABULARY_FILENAME))
        metadata = {
            "format": "keras_ssl.text_encoder",
            "keras_ssl_version": __version__,
            "sequence_length": mlm.sequence_length,
            "hidden_dim": int(mlm.backbone.hidden_dim),
            "vocabulary_size": int(mlm.backbone.vocabulary_size),
            "signatures": {
                "serving_default": {
                    "input": "texts (string, shape [None])",
                    "output": ["pooled_output", "sequence_output"],
                }
            },
        }
        with open(os.path.join(extra, METADATA_FILENAME), "w") as f:
            json.dump(metadata, f, indent=2)
        replace_atomically(tmp_dir, path, overwrite)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return path
