"""Export a CLIP model as one SavedModel that serves both towers.

Signatures:

* `serving_default` and `images`: `images` float32 (None, H, W, C), values
  in [0, 255] -> `embeddings` float32 (None, embedding_dim), L2-normalised;
* `images_uint8`: the same for uint8 images;
* `texts`: `texts` tf.string (None,) -> `embeddings`, L2-normalised.
  Tokenization and packing run in the graph (the vocabulary is a lookup
  table inside it), so clients send captions as they are. The tokenizer's
  ops come from TensorFlow Text: a Python client runs `import
  tensorflow_text` before `tf.saved_model.load`.

Both sides land in one embedding space: the cosine similarity of an image
embedding and a text embedding (their dot product) ranks captions for an
image or images for a caption, and `logit_scale` in the metadata turns
similarities into zero-shot probabilities. Beside the SavedModel, under
`keras_ssl/`, the export keeps the whole CLIP model as a `.keras` file (to
train on), the vocabulary and a `metadata.json`.
"""

import os

import keras
import tensorflow as tf

from keras_ssl.export_text import frozen_copies
from keras_ssl.export_text import write_keras_copy
from keras_ssl.files import staged_folder
from keras_ssl.version import __version__


def _clip_module(clip):
    """A `tf.Module` with the image and text embedding functions of `clip`,
    run on frozen copies of its weights."""
    module = tf.Module()
    module.weights, mapping = frozen_copies(clip.variables)
    # Tracked so the vocabulary's lookup table is saved with the graph.
    module.tokenizer = clip.tokenizer

    def embed_images(images):
        with keras.StatelessScope(state_mapping=mapping):
            z = clip.image_embeddings(tf.cast(images, "float32"), training=False)
        return tf.math.l2_normalize(tf.cast(z, "float32"), axis=-1)

    def embed_texts(texts):
        token_ids, padding_mask = clip.packer(clip.tokenizer(texts))
        with keras.StatelessScope(state_mapping=mapping):
            z = clip.text_embeddings(tf.cast(token_ids, "int32"),
                                     tf.cast(padding_mask, "bool"), training=False)
        return tf.math.l2_normalize(tf.cast(z, "float32"), axis=-1)

    spec = (None,) + tuple(clip.image_shape)
    module.images = tf.function(
        lambda images: {"embeddings": embed_images(images)},
        input_signature=[tf.TensorSpec(spec, tf.float32, name="images")])
    module.images_uint8 = tf.function(
        lambda images: {"embeddings": embed_images(images)},
        input_signature=[tf.TensorSpec(spec, tf.uint8, name="images")])
    module.texts = tf.function(
        lambda texts: {"embeddings": embed_texts(texts)},
        input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    return module


def export_clip(clip, path, overwrite=False):
    """Export a `keras_ssl.methods.CLIP` model: one SavedModel, an image
    signature and a string signature (see the module docstring).

    Args:
        clip: a trained `CLIP` model.
        path: folder to write. Must not exist unless `overwrite=True`.
        overwrite: replace an existing folder at `path`.

    Returns:
        `path`. Written to a temporary folder beside it and renamed into
        place, so an interrupted export leaves nothing half-written.

    Example (with `clip` trained):

        served = tf.saved_model.load(export_clip(clip, "out/clip"))
        images = served.signatures["images_uint8"](images=x)["embeddings"]
        texts = served.signatures["texts"](texts=tf.constant(["red heart"]))["embeddings"]
        similarity = tf.matmul(texts, images, transpose_b=True)
    """
    from keras_ssl.methods.clip import CLIP

    if not isinstance(clip, CLIP):
        raise TypeError(f"`clip` must be a keras_ssl.methods.CLIP, got {type(clip).__name__}.")
    with staged_folder(path, overwrite) as tmp_dir:
        module = _clip_module(clip)
        signatures = {
            "serving_default": module.images,
            "images": module.images,
            "images_uint8": module.images_uint8,
            "texts": module.texts,
        }
        tf.saved_model.save(module, tmp_dir, signatures=signatures)
        write_keras_copy(clip, tmp_dir, {
            "format": "keras_ssl.clip",
            "keras_ssl_version": __version__,
            "image_shape": list(clip.image_shape),
            "embedding_dim": clip.embedding_dim,
            "sequence_length": clip.sequence_length,
            "logit_scale": float(clip.current_logit_scale()),
            "image_encoder_class": type(clip.image_encoder).__name__,
            "signatures": {
                "serving_default": {"input": "images (float32, [0, 255])",
                                    "output": "embeddings"},
                "images": {"input": "images (float32, [0, 255])", "output": "embeddings"},
                "images_uint8": {"input": "images (uint8)", "output": "embeddings"},
                "texts": {"input": "texts (string, shape [None])", "output": "embeddings"},
            },
        })
    return os.fspath(path)
