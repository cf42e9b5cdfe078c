"""CLIP: contrastive pretraining of an image encoder and a text encoder on
image-caption pairs."""

import math
import numbers

import keras
import numpy as np
import tensorflow as tf

from keras_ssl.losses.info_nce import info_nce
from keras_ssl.methods.joint_embedding import embedding_std
from keras_ssl.methods.ssl_method import encoder_feature_dim
from keras_ssl.methods.text_method import TextMethod
from keras_ssl.methods.text_method import as_strings
from keras_ssl.utils import check_images
from keras_ssl.utils import check_choice

QUERIES = ("text", "images")


def _positive_number(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number, got {value!r}.")
    if not value > 0:
        raise ValueError(f"`{name}` must be > 0, got {value!r}.")
    return float(value)


def _check_templates(templates):
    if isinstance(templates, str):
        templates = (templates,)
    templates = tuple(templates)
    if not templates or any(not isinstance(t, str) or "{}" not in t for t in templates):
        raise ValueError(
            "`templates` must be prompt strings with a `{}` where the class name goes, e.g. "
            f"('a picture of {{}}',); got {templates!r}."
        )
    return templates


@keras.saving.register_keras_serializable(package="keras_ssl")
class CLIP(TextMethod):
    """CLIP pretraining (Radford et al. 2021, "Learning Transferable Visual
    Models From Natural Language Supervision").

    An image tower (`image_encoder` and a linear projection) and a text
    tower (a keras-hub transformer on tokenized captions, pooled, and a
    linear projection) map each image and each caption to an L2-normalised
    embedding of size `embedding_dim`. In a batch of N pairs, image `i`
    must pick its own caption among the N captions and caption `i` its
    own image among the N images: the symmetric cross-entropy of the paper
    over the (N, N) cosine similarities multiplied by a learned logit
    scale (`keras_ssl.losses.info_nce` in both directions). The scale
    starts at `1 / initial_temperature` (1 / 0.07) and is kept at most
    `max_logit_scale` (100), as in the paper. Under `tf.distribute` the
    negatives come from every replica (`gather_across_replicas`).

    Images are augmented in the train step by `augmenter`; the default is
    a `keras_ssl.layers.RandomResizedCrop` to the encoder's input size
    (scale 0.5 to 1), the paper's only augmentation. Colour jitter and
    flips are left out on purpose: a caption may name the colour or the
    direction of what the image shows. Pass `keras.layers.Identity()` for
    none.

    The text side is a `TextMethod`: the captions are tokenized and packed
    in the train step with `tokenizer` (`keras_ssl.text.train_wordpiece`
    splits Chinese, Japanese and Korean characters, so captions in those
    languages work), and pooled by `pooling`.

    `fit` (and `evaluate`) take pairs: `fit(images, captions, batch_size=...)` with numpy
    arrays or lists, or a `tf.data.Dataset` of `(images, captions)`
    batches (`keras_ssl.datasets.load_image_text(...).dataset.batch(128)`),
    or `x={"images": ..., "texts": ...}`. Images are (N, H, W, C), uint8 or
    float in [0, 255], of the encoder's input shape; captions are strings.

    After training: `encode_images` and `encode_texts` give the normalised
    embeddings, `zero_shot_classify` classifies images by prompts,
    `retrieve` searches in either direction, and
    `keras_ssl.export.export_clip` writes one SavedModel that serves both
    towers. `encoder` (the image tower's backbone) is what
    `export_backbone` and the probes use.

    Args:
        image_encoder: a `keras.Model` mapping images to (N, D) features,
            e.g. `keras_ssl.backbones.ResNet18(input_shape=(64, 64, 3))`.
        text_backbone: a keras-hub backbone (e.g.
            `keras_ssl.backbones.BertTiny(tokenizer.vocabulary_size())`).
        tokenizer: the keras-hub tokenizer of `text_backbone`, with `[PAD]`,
            `[CLS]` and `[SEP]` tokens.
        sequence_length: tokens per packed caption, `[CLS]` and `[SEP]`
            included.
        embedding_dim: size of the joint embedding.
        augmenter: image augmentation layer (see above).
        text_augmenter: an optional layer applied to the caption strings
            in training, before tokenization: e.g.
            `keras_ssl.layers.RandomWordDeletion(0.3)`, so that a small set
            of captions is not learnt by heart word for word (None: the
            captions as they are, the paper's setting).
        pooling: `"mean"` (mean of the token features) or `"cls"`.
        initial_temperature: starting softmax temperature, > 0.
        max_logit_scale: the largest logit scale (1 / temperature).
        gather_across_replicas: under `tf.distribute`, negatives from the
            global batch.
        seed: seed of the default augmenter.

    Metrics: `loss`, `contrastive_accuracy` (how often an image picks its
    own caption and a caption its own image, averaged), `logit_scale` and
    `embedding_std` of the image embeddings (see `JointEmbeddingMethod`).

    `compile(optimizer="auto")` uses AdamW, learning rate 1e-3, weight
    decay 0.1 (the paper's decay; its learning rate is for batches of
    32768 and far larger towers).

    Example:

    >>> import numpy as np, keras_ssl
    >>> captions = ["a red heart", "a blue car", "a green tree", "a yellow sun"] * 2
    >>> tok = keras_ssl.text.train_wordpiece(captions, vocabulary_size=40)
    >>> text = keras_ssl.backbones.BertTiny(tok.vocabulary_size(), max_sequence_length=8,
    ...                                     hidden_dim=16, intermediate_dim=16)
    >>> image = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 3), filters=(8,))
    >>> clip = CLIP(image, text, tok, sequence_length=8, embedding_dim=8, seed=0)
    >>> clip.compile(optimizer="auto")
    >>> images = np.random.default_rng(0).integers(0, 255, (8, 16, 16, 3)).astype("uint8")
    >>> sorted(clip.fit(images, captions, batch_size=4, verbose=0).history)
    ['contrastive_accuracy', 'embedding_std', 'logit_scale', 'loss']
    >>> clip.zero_shot_classify(images[:2], ["heart", "car"]).shape
    (2, 2)
    """

    min_batch_size = 2
    batch_items = "image-caption pairs"

    def __init__(
        self,
        image_encoder,
        text_backbone,
        tokenizer,
        sequence_length=32,
        embedding_dim=128,
        augmenter=None,
        text_augmenter=None,
        pooling="mean",
        initial_temperature=0.07,
        max_logit_scale=100.0,
        gather_across_replicas=True,
        seed=None,
        **kwargs,
    ):
        if not isinstance(image_encoder, keras.Model):
            raise TypeError(
                "`image_encoder` must be a keras.Model mapping images to features (e.g. "
                f"keras_ssl.backbones.ResNet18), got {type(image_encoder).__name__}."
            )
        image_shape = tuple(image_encoder.input_shape[1:])
        if len(image_shape) != 3 or None in image_shape:
            raise ValueError(
                "`image_encoder` must take images of a fixed shape (H, W, C), got input shape "
                f"{image_encoder.input_shape}."
            )
        feature_dim = encoder_feature_dim(image_encoder, "image_encoder")
        if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, numbers.Integral) \
                or embedding_dim < 1:
            raise ValueError(f"`embedding_dim` must be a positive integer, got {embedding_dim!r}.")
        initial_temperature = _positive_number("initial_temperature", initial_temperature)
        max_logit_scale = _positive_number("max_logit_scale", max_logit_scale)
        if 1.0 / initial_temperature > max_logit_scale:
            raise ValueError(
                f"`initial_temperature` {initial_temperature} gives a logit scale "
                f"{1.0 / initial_temperature:g} above `max_logit_scale` {max_logit_scale:g}."
            )
        super().__init__(text_backbone, tokenizer, sequence_length=sequence_length,
                         pooling=pooling, **kwargs)
        if augmenter is None:
            from keras_ssl.layers import RandomResizedCrop

            augmenter = RandomResizedCrop(image_shape[0], image_shape[1], scale=(0.5, 1.0),
                                          seed=seed, name="image_augmenter")

        # === Layers ===
        self.image_encoder = image_encoder
        self.augmenter = augmenter
        self.text_augmenter = text_augmenter
        self.image_projection = keras.layers.Dense(
            int(embedding_dim), use_bias=False, name="image_projection")
        self.image_projection.build((None, feature_dim))
        self.text_projection = keras.layers.Dense(
            int(embedding_dim), use_bias=False, name="text_projection")
        self.text_projection.build((None, int(text_backbone.hidden_dim)))
        self.logit_scale = self.add_weight(
            shape=(), name="logit_scale", trainable=True,
            initializer=keras.initializers.Constant(math.log(1.0 / initial_temperature)),
        )
        self.accuracy_tracker = keras.metrics.Mean(name="contrastive_accuracy")
        self.scale_tracker = keras.metrics.Mean(name="logit_scale")
        self.embedding_std_tracker = keras.metrics.Mean(name="embedding_std")

        # === Config ===
        self.image_shape = image_shape
        self.feature_dim = feature_dim
        self.embedding_dim = int(embedding_dim)
        self.initial_temperature = initial_temperature
        self.max_logit_scale = max_logit_scale
        self.gather_across_replicas = bool(gather_across_replicas)
        self.seed = seed
        self.built = True

    @property
    def encoder(self):
        """The image tower's backbone (what `export_backbone` and the probes use)."""
        return self.image_encoder

    def default_optimizer(self):
        return keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.1)

    def compile(self, optimizer="auto", **kwargs):
        """As `PretrainingModel.compile`; an optimizer with weight decay
        leaves the logit scale out of it, as the paper does."""
        if isinstance(optimizer, str) and optimizer == "auto":
            optimizer = self.default_optimizer()
        if isinstance(optimizer, keras.optimizers.Optimizer) and optimizer.weight_decay:
            optimizer.exclude_from_weight_decay(var_list=[self.logit_scale])
        super().compile(optimizer=optimizer, **kwargs)

    def extra_metrics(self):
        return [self.accuracy_tracker, self.scale_tracker, self.embedding_std_tracker]

    # Inputs -------------------------------------------------------------------

    def _check_image_shape(self, shape, argument):
        if tuple(shape[1:]) != self.image_shape and None not in tuple(shape[1:]):
            raise ValueError(
                f"`{argument}` has images of shape {tuple(shape[1:])}, but the image encoder "
                f"takes {self.image_shape}: resize them (e.g. load_image_text(..., "
                f"image_size={self.image_shape[0]})) or build the encoder for that shape."
            )

    def _split_pairs(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(x, dict):
            missing = {"images", "texts"} - set(x)
            if missing:
                raise ValueError(
                    f"CLIP's `x` dict needs the keys 'images' and 'texts'; missing "
                    f"{sorted(missing)}."
                )
            return x["images"], x["texts"]
        if y is None:
            raise ValueError(
                "CLIP trains on image-caption pairs: pass the captions as `y` "
                "(fit(images, captions)), batches of (images, captions), or "
                "x={'images': ..., 'texts': ...}."
            )
        return x, y

    def prepare_inputs(self, data):
        images, texts = self._split_pairs(data)
        check_images(images, name="images")
        self._check_image_shape(images.shape, "images")
        return tf.cast(images, "float32"), texts

    def fit(self, x=None, y=None, *args, **kwargs):
        x, y = self._check_pairs(x, y)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        x, y = self._check_pairs(x, y)
        return super().evaluate(x, y, *args, **kwargs)

    def _check_pairs(self, x, y):
        """Arrays of pairs checked (counts, captions, image shape) and the
        captions made `tf.string`, before any training."""
        images, texts = (x.get("images"), x.get("texts")) if isinstance(x, dict) else (x, y)
        if texts is None or isinstance(x, tf.data.Dataset) or images is None:
            return x, y
        if isinstance(images, (list, tuple)):
            images = np.asarray(images)
        if not isinstance(texts, (tf.Tensor, tf.RaggedTensor)):
            texts = as_strings(texts, "captions")
            empty = np.flatnonzero(tf.strings.length(tf.strings.strip(texts)).numpy() == 0)
            if empty.size:
                raise ValueError(
                    f"{empty.size} caption(s) are empty (indices {empty[:5].tolist()}"
                    f"{'...' if empty.size > 5 else ''}); every image needs a caption."
                )
        check_images(images, name="images")
        self._check_image_shape(images.shape, "images")
        if int(images.shape[0]) != int(texts.shape[0]):
            raise ValueError(
                f"`images` and `captions` must pair up: got {images.shape[0]} images and "
                f"{texts.shape[0]} captions."
            )
        if isinstance(x, dict):
            return dict(x, images=images, texts=texts), y
        return images, texts

    # Towers -------------------------------------------------------------------

    def image_embeddings(self, images, training=False):
        """Unnormalised image embeddings (N, embedding_dim)."""
        features = self.image_encoder(images, training=training)
        return self.image_projection(features, training=training)

    def text_embeddings(self, token_ids, padding_mask, training=False, return_outputs=False):
        """Unnormalised text embeddings (N, embedding_dim) of packed
        captions (and the backbone's outputs, with `return_outputs`)."""
        outputs = self.backbone_outputs(token_ids, padding_mask, training=training)
        z = self.text_projection(self.pool(outputs, padding_mask), training=training)
        return (z, outputs) if return_outputs else z

    def current_logit_scale(self):
        """The logit scale (1 / temperature) now, at most `max_logit_scale`."""
        return tf.minimum(tf.exp(tf.cast(self.logit_scale, "float32")), self.max_logit_scale)

    def call(self, inputs, training=False):
        """`(image_embeddings, text_embeddings)`, L2-normalised, of a pair
        `(images, texts)` or a dict with keys "images" and "texts"."""
        if isinstance(inputs, dict):
            images, texts = inputs["images"], inputs["texts"]
        elif isinstance(inputs, (tuple, list)) and len(inputs) == 2:
            images, texts = inputs
        else:
            raise TypeError(
                "CLIP's call takes a pair (images, texts) or a dict with keys 'images' and "
                f"'texts'; got {type(inputs).__name__}. Use encode_images or encode_texts "
                "for one modality."
            )
        image = self.image_embeddings(tf.cast(images, "float32"), training=training)
        token_ids, padding_mask = self.pack(texts)
        text = self.text_embeddings(token_ids, padding_mask, training=training)
        return (tf.math.l2_normalize(tf.cast(image, "float32"), axis=-1),
                tf.math.l2_normalize(tf.cast(text, "float32"), axis=-1))

    # Training -----------------------------------------------------------------

    def compute_ssl_loss(self, inputs, training=True):
        images, texts = inputs
        if training and self.text_augmenter is not None:
            texts = self.text_augmenter(as_strings(texts, "captions"), training=True)
        token_ids, padding_mask = self.pack(texts)
        with tf.control_dependencies([self.check_batch(images)]):
            images = tf.identity(images)
        if training:
            images = self.augmenter(images, training=True)
        image = self.image_embeddings(images, training=training)
        text, outputs = self.text_embeddings(token_ids, padding_mask, training=training,
                                             return_outputs=True)
        scale = self.current_logit_scale()
        # The paper's symmetric loss: images classify captions, captions
        # classify images, each with the other side's whole (global) batch.
        loss_i, correct_i = info_nce(image, text, temperature=1.0 / scale,
                                     gather_across_replicas=self.gather_across_replicas)
        loss_t, correct_t = info_nce(text, image, temperature=1.0 / scale,
                                     gather_across_replicas=self.gather_across_replicas)
        self.accuracy_tracker.update_state(
            (tf.reduce_mean(correct_i) + tf.reduce_mean(correct_t)) / 2.0)
        self.scale_tracker.update_state(scale)
        self.embedding_std_tracker.update_state(embedding_std(image))
        loss = (tf.reduce_mean(loss_i) + tf.reduce_mean(loss_t)) / 2.0
        if self.pooling == "mean":
            loss = self.idle_pooler(loss, outputs)
        return loss, {}

    def after_update(self):
        # As the paper: the scale is clipped at `max_logit_scale` after each
        # step, so it cannot drift above where the forward pass caps it.
        self.logit_scale.assign(
            tf.minimum(self.logit_scale, math.log(self.max_logit_scale)))

    # Inference ----------------------------------------------------------------

    def encode_images(self, images, batch_size=256):
        """L2-normalised image embeddings (N, embedding_dim), float32 numpy."""
        if isinstance(images, (list, tuple)):
            images = np.asarray(images)
        check_images(images, name="images")
        self._check_image_shape(images.shape, "images")
        return self._embed_batches("images", images, batch_size)

    def encode_texts(self, texts, batch_size=256):
        """L2-normalised text embeddings (N, embedding_dim), float32 numpy."""
        texts = as_strings(texts, "texts")
        return self._embed_batches("texts", texts, batch_size)

    def _embed_batches(self, kind, inputs, batch_size):
        """Normalised embeddings of `inputs` ("images" or "texts") computed
        `batch_size` at a time by one traced function a kind."""
        functions = self.__dict__.setdefault("_clip_embed_functions", {})
        if kind not in functions:
            def embed(batch):
                if kind == "images":
                    z = self.image_embeddings(tf.cast(batch, "float32"), training=False)
                else:
                    z = self.text_embeddings(*self.pack(batch), training=False)
                return tf.math.l2_normalize(tf.cast(z, "float32"), axis=-1)

            spec = (tf.TensorSpec((None,) + self.image_shape, "float32") if kind == "images"
                    else tf.TensorSpec((None,), tf.string))
            functions[kind] = tf.function(embed, input_signature=[spec])
        cast = (lambda b: tf.cast(b, "float32")) if kind == "images" else (lambda b: b)
        parts = [functions[kind](cast(inputs[i:i + batch_size])).numpy()
                 for i in range(0, int(inputs.shape[0]), int(batch_size))]
        if not parts:
            return np.zeros((0, self.embedding_dim), "float32")
        return np.concatenate(parts)

    def class_embeddings(self, class_names, templates=("{}",), batch_size=256):
        """One normalised text embedding a class: each class name written
        into every prompt template, the template embeddings averaged and
        normalised again (the paper's prompt ensembling)."""
        templates = _check_templates(templates)
        names = [str(n) for n in (class_names if not isinstance(class_names, str)
                                  else [class_names])]
        if not names or any(not n.strip() for n in names):
            raise ValueError(f"`class_names` must be non-empty strings, got {class_names!r}.")
        prompts = [t.format(n) for n in names for t in templates]
        z = self.encode_texts(prompts, batch_size).reshape(len(names), len(templates), -1)
        z = z.mean(axis=1)
        return z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-12)

    def zero_shot_classify(self, images, class_names, templates=("{}",), batch_size=256):
        """Class probabilities (N, C) of `images` among `class_names`.

        Each image is compared with one embedding a class (see
        `class_embeddings`: every template, e.g. `"a picture of {}"`,
        filled with the class name, averaged); the softmax of the cosine
        similarities times the learned logit scale. No label is trained.
        """
        classes = self.class_embeddings(class_names, templates, batch_size)
        images = self.encode_images(images, batch_size)
        logits = float(self.current_logit_scale()) * images @ classes.T
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def retrieve(self, text=None, images=None, top_k=5, query="text", batch_size=256):
        """Search one modality with the other.

        With `query="text"` (the default), each string of `text` searches
        the gallery `images`; with `query="images"`, each image searches the
        gallery of captions `text`. Returns `(indices, scores)`, both of
        shape (queries, top_k), best first: gallery indices and cosine
        similarities.
        """
        check_choice("query", query, QUERIES)
        if text is None or images is None:
            raise ValueError("`retrieve` needs both `text` and `images` (queries and gallery).")
        if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1:
            raise ValueError(f"`top_k` must be a positive integer, got {top_k!r}.")
        text_z = self.encode_texts(text, batch_size)
        image_z = self.encode_images(images, batch_size)
        queries, gallery = (text_z, image_z) if query == "text" else (image_z, text_z)
        if len(gallery) == 0:
            raise ValueError("The gallery is empty.")
        top_k = min(int(top_k), len(gallery))
        similarity = queries @ gallery.T
        indices = np.argsort(-similarity, axis=1, kind="stable")[:, :top_k]
        return indices, np.take_along_axis(similarity, indices, axis=1)

    # Serialization ----------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config["text_backbone"] = config.pop("backbone")
        config.update({
            "image_encoder": keras.saving.serialize_keras_object(self.image_encoder),
            "augmenter": keras.saving.serialize_keras_object(self.augmenter),
            "text_augmenter": (None if self.text_augmenter is None else
                               keras.saving.serialize_keras_object(self.text_augmenter)),
            "embedding_dim": self.embedding_dim,
            "initial_temperature": self.initial_temperature,
            "max_logit_scale": self.max_logit_scale,
            "gather_across_replicas": self.gather_across_replicas,
            "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["image_encoder"] = keras.saving.deserialize_keras_object(config["image_encoder"])
        config["augmenter"] = keras.saving.deserialize_keras_object(config["augmenter"])
        if config.get("text_augmenter") is not None:
            config["text_augmenter"] = keras.saving.deserialize_keras_object(
                config["text_augmenter"])
        config["backbone"] = config.pop("text_backbone")
        config = cls.deserialize_text_config(config)
        config["text_backbone"] = config.pop("backbone")
        return cls(**config)
