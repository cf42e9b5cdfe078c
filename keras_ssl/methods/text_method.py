"""The base of keras_ssl's text methods: a keras-hub transformer, the
tokenizer trained for it, and raw strings in.

`TextMethod` holds what every text method shares: argument checks, the
special-token ids, packing strings or token ids as
`[CLS] tokens [SEP] [PAD]...` (keras-hub `StartEndPacker`), the encoder's
token and pooled features, string inputs in every form users build them
(Python lists, numpy `str` arrays, `tf.string`), and the `.keras`
serialization of the backbone with its tokenizer. A method
(`MaskedLanguageModel`, `CausalLanguageModel`, `SimCSE`) adds its pretext
task: `compute_ssl_loss` and its heads.
"""

import base64
import binascii

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from keras_ssl.layers.masked_pooling import masked_mean
from keras_ssl.methods.ssl_method import PretrainingModel
from keras_ssl.utils import check_choice

# Shorter sequences leave a masked or next-token task almost nothing to
# predict once [CLS] and [SEP] are placed.
MIN_SEQUENCE_LENGTH = 8
POOLINGS = ("mean", "cls")


def special_token_ids(tokenizer, tokens, owner="This method"):
    """Ids of the special `tokens` in `tokenizer`'s vocabulary; error if missing."""
    vocabulary = tokenizer.get_vocabulary()
    if vocabulary is None:
        raise ValueError("`tokenizer` has no vocabulary.")
    missing = [t for t in tokens if t not in vocabulary]
    if missing:
        raise ValueError(
            f"The tokenizer's vocabulary has no {', '.join(missing)} token(s); "
            f"{owner} needs {list(tokens)}. Train it with "
            "keras_ssl.text.train_wordpiece (its default reserved_tokens have them)."
        )
    return {t: int(tokenizer.token_to_id(t)) for t in tokens}


def as_strings(texts, argument="texts"):
    """Strings as users hold them -> a `tf.string` tensor of shape (N,).

    Accepts a Python list or tuple of `str`/`bytes`, a numpy array of
    fixed-width unicode (`np.array(list_of_str)`), bytes or object dtype
    holding strings, and a `tf.string` tensor, of shape (N,) or (N, 1).
    Keras's own data adapters refuse lists of strings and numpy unicode
    arrays, hence this conversion where text enters.

    Raises:
        TypeError: a single string, or anything that is not strings; the
            message names `argument`.
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError(
            f"`{argument}` must be a batch of strings, got a single string; wrap it in a list."
        )
    if isinstance(texts, (tf.Tensor, tf.RaggedTensor)) or keras.backend.is_keras_tensor(texts):
        if texts.dtype != tf.string:
            raise TypeError(
                f"`{argument}` must hold strings, got a tensor of dtype {texts.dtype.name}."
            )
        tensor = texts
    else:
        if isinstance(texts, (list, tuple)):
            bad = [t for t in texts if not isinstance(t, (str, bytes, np.str_, np.bytes_))]
            if bad:
                raise TypeError(
                    f"`{argument}` must hold only strings, got an item of type "
                    f"{type(bad[0]).__name__}."
                )
            array = np.array(list(texts), dtype=object)
        elif isinstance(texts, np.ndarray):
            array = texts
        else:
            raise TypeError(
                f"`{argument}` must be strings (a list, a numpy array of str or a tf.string "
                f"tensor), got {type(texts).__name__}."
            )
        if array.dtype.kind == "O":
            if any(not isinstance(t, (str, bytes)) for t in array.reshape(-1)):
                raise TypeError(f"`{argument}` must hold only strings (numpy object array).")
        elif array.dtype.kind not in "US":
            raise TypeError(
                f"`{argument}` must hold strings, got a numpy array of dtype {array.dtype}."
            )
        tensor = tf.constant(array.astype(object), dtype=tf.string)
    if tensor.shape.rank == 2 and tensor.shape[-1] == 1:
        tensor = tf.squeeze(tensor, -1)
    if tensor.shape.rank != 1:
        raise ValueError(
            f"`{argument}` must be a batch of strings of shape (N,), got shape {tensor.shape}."
        )
    return tensor


def _is_string_array(x):
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "US" or (
            x.dtype.kind == "O" and x.size > 0 and isinstance(x.reshape(-1)[0], (str, bytes)))
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(
        isinstance(t, (str, bytes)) for t in x)


def convert_string_inputs(args, kwargs):
    """`fit`/`evaluate`/`predict` arguments with a string `x` (a list or a
    numpy array of str, which Keras refuses) turned into a `tf.string`
    tensor; everything else unchanged."""
    args = list(args)
    if args and _is_string_array(args[0]):
        args[0] = as_strings(args[0], "x")
    elif _is_string_array(kwargs.get("x")):
        kwargs = dict(kwargs, x=as_strings(kwargs["x"], "x"))
    return tuple(args), kwargs


def _join_mask_to_word(token_ids, vocabulary):
    """SentencePiece token ids with a lone word-start piece ("\u2581") before
    `[MASK]` dropped.

    SentencePiece keeps `[MASK]` (a user-defined symbol) whole, but the
    space before it becomes a piece of its own; in training `[MASK]`
    replaces a whole piece that carries its word start, so `fill_mask`
    does the same."""
    if "\u2581" not in vocabulary:
        return token_ids
    space, mask = vocabulary.index("\u2581"), vocabulary.index("[MASK]")
    rows = token_ids.to_list() if hasattr(token_ids, "to_list") else token_ids
    rows = [[t for i, t in enumerate(ids)
             if not (t == space and i + 1 < len(ids) and ids[i + 1] == mask)]
            for ids in (list(map(int, r)) for r in rows)]
    return tf.ragged.constant(rows, dtype="int32", ragged_rank=1)


def _check_pooling(pooling, backbone):
    check_choice("pooling", pooling, POOLINGS)
    if pooling == "cls" and not (
            isinstance(backbone.output, dict) and "pooled_output" in backbone.output):
        raise ValueError(
            f"`pooling` 'cls' needs a backbone with a pooled [CLS] output; "
            f"{type(backbone).__name__} has none: use pooling='mean'."
        )


class StringInputs:
    """Mixin of a `keras.Model` whose `fit`, `evaluate` and `predict` take
    strings as Python lists and numpy `str` arrays too (Keras's data
    adapters refuse both): they become `tf.string` tensors first."""

    def fit(self, *args, **kwargs):
        args, kwargs = convert_string_inputs(args, kwargs)
        return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        args, kwargs = convert_string_inputs(args, kwargs)
        return super().evaluate(*args, **kwargs)

    def predict(self, *args, **kwargs):
        args, kwargs = convert_string_inputs(args, kwargs)
        return super().predict(*args, **kwargs)


class TextMethod(StringInputs, PretrainingModel):
    """Base class of the text pretraining methods (see the module docstring).

    Args:
        backbone: a keras-hub backbone of one of `backbone_types`.
        tokenizer: a keras-hub tokenizer whose vocabulary has the method's
            `required_tokens` (`keras_ssl.text.train_wordpiece`).
        sequence_length: tokens per packed sequence, `[CLS]` and `[SEP]`
            included; at least 8 and at most the backbone's
            `max_sequence_length`.
        pooling: how `call`, `embed` and the exports pool token features
            into one vector a text: `"mean"` (the mean over the real tokens)
            or `"cls"` (BERT's pooled `[CLS]` output, trained only by a
            sentence-level task).

    `call(texts)` (and `predict`) returns the pooled embeddings (N,
    hidden_dim). `fit`, `evaluate` and `predict` take strings as a
    `tf.data.Dataset` of string batches, a `tf.string` tensor, a Python list
    or a numpy array of `str`; labels are ignored.
    """

    backbone_types = (keras_hub.models.Backbone,)
    required_tokens = ("[PAD]", "[CLS]", "[SEP]")
    jit_unsupported_reason = (
        "its train step tokenizes text with TensorFlow Text and ragged-tensor "
        "ops, which XLA cannot compile."
    )

    def __init__(self, backbone, tokenizer, sequence_length=128, pooling="mean", **kwargs):
        name = type(self).__name__
        if not isinstance(backbone, self.backbone_types):
            expected = " or ".join(f"keras_hub.models.{t.__name__}" for t in self.backbone_types)
            raise TypeError(
                f"`backbone` of {name} must be a {expected}, got {type(backbone).__name__}."
            )
        if not isinstance(tokenizer, keras_hub.tokenizers.Tokenizer):
            raise TypeError(
                "`tokenizer` must be a keras_hub tokenizer (e.g. from "
                f"keras_ssl.text.train_wordpiece), got {type(tokenizer).__name__}."
            )
        if isinstance(sequence_length, bool) or int(sequence_length) != sequence_length:
            raise TypeError(f"`sequence_length` must be an integer, got {sequence_length!r}.")
        sequence_length = int(sequence_length)
        if sequence_length < MIN_SEQUENCE_LENGTH:
            raise ValueError(
                f"`sequence_length` must be at least {MIN_SEQUENCE_LENGTH} tokens ([CLS], "
                f"words, [SEP]), got {sequence_length}."
            )
        if sequence_length > backbone.max_sequence_length:
            raise ValueError(
                f"`sequence_length` ({sequence_length}) is larger than the backbone's "
                f"`max_sequence_length` ({backbone.max_sequence_length}): build the "
                "backbone with a longer max_sequence_length or use a shorter sequence."
            )
        if tokenizer.vocabulary_size() != backbone.vocabulary_size:
            raise ValueError(
                f"The tokenizer's vocabulary ({tokenizer.vocabulary_size()} tokens) and the "
                f"backbone's `vocabulary_size` ({backbone.vocabulary_size}) differ: build "
                "the backbone with vocabulary_size=tokenizer.vocabulary_size()."
            )
        _check_pooling(pooling, backbone)
        ids = special_token_ids(tokenizer, self.required_tokens, name)
        super().__init__(**kwargs)
        # Tokenization runs inside the train step with TensorFlow Text and
        # ragged ops, which have no XLA kernels (Keras's
        # `jit_compile="auto"` reads this flag).
        self.supports_jit = False

        # === Layers ===
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.packer = keras_hub.layers.StartEndPacker(
            sequence_length=sequence_length,
            start_value=ids["[CLS]"],
            end_value=ids["[SEP]"],
            pad_value=ids["[PAD]"],
            return_padding_mask=True,
            name="packer",
        )

        # === Config ===
        self.sequence_length = sequence_length
        self.pooling = pooling
        self.special_token_ids = ids

    # Inputs -----------------------------------------------------------------

    def pack(self, inputs):
        """Strings or token ids -> `(token_ids, padding_mask)`, each (N, L).

        Strings (shape (N,) or (N, 1)) are tokenized; token ids (ragged, or
        dense padded with `[PAD]`) are used as they are. Both are packed as
        `[CLS] tokens [SEP] [PAD]...`, truncated to `sequence_length`; a
        dense batch of width `sequence_length` whose rows all start with
        `[CLS]` is taken as already packed.
        """
        name = type(self).__name__
        if isinstance(inputs, dict):
            raise TypeError(f"{name} expects a batch of strings or token ids, got a dict.")
        if isinstance(inputs, (list, tuple, np.ndarray)) and _is_string_array(inputs):
            inputs = as_strings(inputs, "inputs")
        if not isinstance(inputs, (tf.Tensor, tf.RaggedTensor)):
            inputs = tf.convert_to_tensor(inputs)
        pad_id = self.special_token_ids["[PAD]"]
        if inputs.dtype == tf.string:
            token_ids, padding_mask = self.packer(self.tokenizer(as_strings(inputs, "inputs")))
        elif inputs.dtype.is_integer:
            if inputs.shape.rank != 2:
                raise ValueError(
                    f"{name} expects token ids of shape (N, tokens), got shape {inputs.shape}."
                )
            inputs = tf.cast(inputs, "int32")
            if isinstance(inputs, tf.RaggedTensor):
                token_ids, padding_mask = self.packer(inputs)
            else:
                token_ids, padding_mask = self._pack_dense(inputs, pad_id)
        else:
            raise TypeError(
                f"{name} expects strings or integer token ids, got dtype {inputs.dtype.name}."
            )
        token_ids = tf.cast(token_ids, "int32")
        token_ids = tf.ensure_shape(token_ids, [None, self.sequence_length])
        return token_ids, tf.cast(padding_mask, "bool")

    def _pack_dense(self, inputs, pad_id):
        unpacked = tf.RaggedTensor.from_tensor(inputs, padding=pad_id)
        if inputs.shape[-1] != self.sequence_length:
            return self.packer(unpacked)
        already = tf.reduce_all(inputs[:, 0] == self.special_token_ids["[CLS]"])
        return tf.cond(
            already,
            lambda: (inputs, inputs != pad_id),
            lambda: tuple(self.packer(unpacked)),
        )

    def prepare_inputs(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.pack(x)

    # Encoder ----------------------------------------------------------------

    def backbone_inputs(self, token_ids, padding_mask, segment_ids=None):
        """The backbone's input dict; BERT-like backbones also get segment ids
        (zeros unless given)."""
        features = {"token_ids": token_ids, "padding_mask": padding_mask}
        if isinstance(self.backbone.input, dict) and "segment_ids" in self.backbone.input:
            features["segment_ids"] = (
                keras.ops.zeros_like(token_ids) if segment_ids is None else segment_ids)
        return features

    def backbone_outputs(self, token_ids, padding_mask, segment_ids=None, training=False):
        """`{"sequence_output": (N, L, H)[, "pooled_output": (N, H)]}`."""
        outputs = self.backbone(
            self.backbone_inputs(token_ids, padding_mask, segment_ids), training=training)
        if not isinstance(outputs, dict):
            outputs = {"sequence_output": outputs}
        return outputs

    @staticmethod
    def idle_pooler(loss, outputs):
        """`loss` plus zero times the pooled `[CLS]` output, for a loss that
        does not use BERT's pooler (a dense layer on `[CLS]`): its weights
        then get zero gradients rather than none, which Keras warns about
        at every `fit`."""
        if "pooled_output" not in outputs:
            return loss
        return loss + 0.0 * tf.reduce_sum(tf.cast(outputs["pooled_output"], "float32"))

    def pool(self, outputs, padding_mask, pooling=None):
        """One vector a text from the backbone's outputs (see `pooling`;
        the argument overrides the method's)."""
        if (pooling or self.pooling) == "cls":
            return outputs["pooled_output"]
        return masked_mean(outputs["sequence_output"], padding_mask)

    def encode(self, inputs, training=False):
        """`{"pooled_output": (N, H), "sequence_output": (N, L, H)}` for
        strings or token ids; `pooled_output` follows `pooling`."""
        token_ids, padding_mask = self.pack(inputs)
        outputs = self.backbone_outputs(token_ids, padding_mask, training=training)
        return {"pooled_output": self.pool(outputs, padding_mask),
                "sequence_output": outputs["sequence_output"]}

    def call(self, inputs, training=False):
        """Pooled embeddings of strings or token ids: (N, hidden_dim)."""
        return self.encode(inputs, training=training)["pooled_output"]

    def embed(self, texts, batch_size=256, pooling=None):
        """Pooled float32 embeddings of `texts` (any string form) as numpy, (N, H).

        `pooling` overrides the method's (`"mean"` or `"cls"`).
        """
        texts = as_strings(texts)
        pooling = self.pooling if pooling is None else pooling
        _check_pooling(pooling, self.backbone)
        functions = self.__dict__.setdefault("_embed_functions", {})
        if pooling not in functions:
            def embed(batch):
                token_ids, padding_mask = self.pack(batch)
                outputs = self.backbone_outputs(token_ids, padding_mask, training=False)
                return tf.cast(self.pool(outputs, padding_mask, pooling), "float32")

            functions[pooling] = tf.function(embed, reduce_retracing=True)
        parts = [functions[pooling](texts[i:i + batch_size]).numpy()
                 for i in range(0, int(texts.shape[0]), int(batch_size))]
        if not parts:
            return np.zeros((0, self.backbone.hidden_dim), "float32")
        return np.concatenate(parts)

    # Filling masks --------------------------------------------------------

    def masked_inputs(self, texts, top_k):
        """Packed texts with `[MASK]` written in them, for `fill_mask`.

        Returns `(token_ids, padding_mask, positions, top_k)`: `positions`
        lists the `[MASK]` positions of each text (numpy int arrays), and
        `top_k` is checked and capped at the vocabulary size.
        """
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"`top_k` must be a positive integer, got {top_k!r}.")
        top_k = min(int(top_k), int(self.backbone.vocabulary_size))
        vocabulary = self.tokenizer.get_vocabulary()
        if "[MASK]" not in vocabulary:
            raise ValueError(
                f"`fill_mask` needs a [MASK] token, which the tokenizer's vocabulary of "
                f"{type(self).__name__} lacks; train it with keras_ssl.text.train_wordpiece "
                "(its default reserved_tokens have [MASK])."
            )
        texts = as_strings(texts)
        if isinstance(self.tokenizer, keras_hub.tokenizers.SentencePieceTokenizer):
            token_ids = _join_mask_to_word(self.tokenizer(texts), vocabulary)
        else:
            if getattr(self, "_mask_aware_tokenizer", None) is None:
                # The training tokenizer splits "[MASK]" written in a string
                # into "[", "mask", "]"; this copy keeps the special tokens
                # whole.
                config = self.tokenizer.get_config()
                specials = [t for t in vocabulary if t.startswith("[") and t.endswith("]")]
                config.update(vocabulary=list(vocabulary), special_tokens=specials,
                              special_tokens_in_strings=True)
                self._mask_aware_tokenizer = type(self.tokenizer).from_config(config)
            token_ids = self._mask_aware_tokenizer(texts)
        token_ids, padding_mask = self.packer(token_ids)
        token_ids = tf.cast(token_ids, "int32")
        mask_id = int(self.tokenizer.token_to_id("[MASK]"))
        positions = []
        for row, ids in enumerate(token_ids.numpy()):
            where = np.flatnonzero(ids == mask_id)
            if where.size == 0:
                raise ValueError(
                    f"`texts`[{row}] has no [MASK] token within the first "
                    f"{self.sequence_length} tokens: {texts[row].numpy().decode()!r}."
                )
            positions.append(where)
        return token_ids, tf.cast(padding_mask, "bool"), positions, top_k

    def top_tokens(self, logits, top_k):
        """`(token, probability)` pairs, best first, for logits of shape
        (masks, vocabulary): a list for one mask, a list of lists for several."""
        probabilities = tf.nn.softmax(tf.cast(logits, "float32"), axis=-1)
        top = tf.math.top_k(probabilities, k=top_k)
        candidates = [
            [(self.tokenizer.id_to_token(int(i)), float(p)) for i, p in zip(idx, prob)]
            for idx, prob in zip(top.indices.numpy(), top.values.numpy())
        ]
        return candidates[0] if len(candidates) == 1 else candidates

    # Serialization ----------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        tokenizer = keras.saving.serialize_keras_object(self.tokenizer)
        # keras-hub tokenizers keep their vocabulary out of the config and
        # restore it from the file's assets, which load only after every
        # constructor has run; this constructor needs the special token ids,
        # so the vocabulary also goes into the tokenizer's config (for a
        # SentencePiece tokenizer, its model as base64 text).
        if isinstance(self.tokenizer, keras_hub.tokenizers.SentencePieceTokenizer):
            tokenizer["config"]["proto"] = base64.b64encode(self.tokenizer.proto).decode("ascii")
        else:
            tokenizer["config"]["vocabulary"] = list(self.tokenizer.get_vocabulary())
        config.update(
            {
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "tokenizer": tokenizer,
                "sequence_length": self.sequence_length,
                "pooling": self.pooling,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**cls.deserialize_text_config(config))

    @staticmethod
    def deserialize_text_config(config):
        """`config` with its `backbone` and `tokenizer` deserialized."""
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        tokenizer = config["tokenizer"]
        proto = tokenizer.get("config", {}).get("proto")
        if isinstance(proto, str):
            # get_config's base64 text; keras-hub would read a short string
            # as a file path, so it gets the bytes.
            try:
                proto = base64.b64decode(proto, validate=True)
            except binascii.Error:
                pass
            tokenizer = dict(tokenizer, config=dict(tokenizer["config"], proto=proto))
        config["tokenizer"] = keras.saving.deserialize_keras_object(tokenizer)
        return config
