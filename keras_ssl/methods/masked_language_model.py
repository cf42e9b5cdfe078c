"""BERT masked language modeling on raw text, with keras-hub's BERT pieces."""

import math

import keras
import keras_hub
import tensorflow as tf

from keras_ssl.methods.ssl_method import PretrainingModel
from keras_ssl.utils import check_fraction


@keras.saving.register_keras_serializable(package="keras_ssl")
class MaskedLanguageModel(PretrainingModel):
    """BERT masked language modeling (Devlin et al. 2019).

    `fit` takes raw strings (a `tf.data.Dataset` of string batches) or token
    ids. Inside `train_step` each batch is tokenized (keras-hub
    `WordPieceTokenizer`), packed as `[CLS] tokens [SEP] [PAD]...`
    (`StartEndPacker`) and masked afresh (`MaskedLMMaskGenerator`): of the
    non-special tokens, `mask_rate` are selected; of those 80% become
    [MASK], 10% a random token and 10% stay unchanged. Special tokens are
    never selected. A `MaskedLMHead` tied to the token embedding predicts the
    selected tokens; the loss is the cross-entropy over them only.

    Args:
        backbone: a `keras_hub.models.BertBackbone` (e.g.
            `keras_ssl.backbones.BertTiny(vocabulary_size=...)`).
        tokenizer: a `keras_hub.tokenizers.WordPieceTokenizer` with [PAD],
            [CLS], [SEP] and [MASK] tokens (`keras_ssl.text.train_wordpiece`).
        sequence_length: tokens per sequence, [CLS] and [SEP] included.
        mask_rate: fraction of tokens selected for prediction, in (0, 1).
        mask_token_rate, random_token_rate: of the selected tokens, the
            fractions replaced by [MASK] and by a random token.

    Metrics: `loss`, `masked_accuracy` (top-1 on the selected tokens) and
    `perplexity` (exp of the epoch's mean loss).

    `compile(optimizer="auto")`: AdamW, learning rate 5e-4, weight decay 0.01.

    Example:

    >>> import keras_ssl
    >>> texts = keras_ssl.datasets.load_text(["the cat sat on the mat"] * 8)
    >>> tok = keras_ssl.text.train_wordpiece(texts, vocabulary_size=50)
    >>> bert = keras_ssl.backbones.BertTiny(tok.vocabulary_size(), max_sequence_length=16,
    ...                                     hidden_dim=16, intermediate_dim=32)
    >>> mlm = MaskedLanguageModel(bert, tok, sequence_length=16)
    >>> mlm.compile(optimizer="auto")
    >>> sorted(mlm.fit(texts.batch(4), epochs=1, verbose=0).history)
    ['loss', 'masked_accuracy', 'perplexity']
    """

    def __init__(
        self,
        backbone,
        tokenizer,
        sequence_length=128,
        mask_rate=0.15,
        mask_token_rate=0.8,
        random_token_rate=0.1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(backbone, keras_hub.models.BertBackbone):
            raise TypeError(
                "`backbone` must be a keras_hub.models.BertBackbone, got "
                f"{type(backbone).__name__}."
            )
        mask_rate = check_fraction("mask_rate", mask_rate)
        if not 0 <= mask_token_rate + random_token_rate <= 1:
            raise ValueError(
                "`mask_token_rate` + `random_token_rate` must lie in [0, 1], got "
                f"{mask_token_rate} + {random_token_rate}."
            )
        sequence_length = int(sequence_length)
        if sequence_length > backbone.max_sequence_length:
            raise ValueError(
                f"`sequence_length` ({sequence_length}) is above the backbone's "
                f"max_sequence_length ({backbone.max_sequence_length})."
            )
        if sequence_length < 3:
            raise ValueError(f"`sequence_length` must be >= 3, got {sequence_length}.")
        if tokenizer.vocabulary_size() != backbone.vocabulary_size:
            raise ValueError(
                f"The tokenizer's vocabulary ({tokenizer.vocabulary_size()} tokens) and "
                f"the backbone's vocabulary_size ({backbone.vocabulary_size}) differ."
            )
        ids = {}
        for token in ("[PAD]", "[CLS]", "[SEP]", "[MASK]"):
            token_id = tokenizer.token_to_id(token)
            if token_id is None or tokenizer.id_to_token(token_id) != token:
                raise ValueError(f"The tokenizer's vocabulary has no {token} token.")
            ids[token] = int(token_id)

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
        self.mask_selection_length = max(1, math.ceil(sequence_length * mask_rate))
        self.masker = keras_hub.layers.MaskedLMMaskGenerator(
            vocabulary_size=backbone.vocabulary_size,
            mask_selection_rate=mask_rate,
            mask_token_id=ids["[MASK]"],
            mask_selection_length=self.mask_selection_length,
            unselectable_token_ids=[ids["[PAD]"], ids["[CLS]"], ids["[SEP]"]],
            mask_token_rate=mask_token_rate,
            random_token_rate=random_token_rate,
            name="masker",
        )
        self.mlm_head = keras_hub.layers.MaskedLMHead(
            vocabulary_size=backbone.vocabulary_size,
            token_embedding=backbone.token_embedding,
            intermediate_activation="gelu",
            name="mlm_head",
        )
        self.mlm_head.build(
            (None, sequence_length, backbone.hidden_dim), (None, self.mask_selection_length)
        )
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy")

        # === Config ===
        self.sequence_length = sequence_length
        self.mask_rate = mask_rate
        self.mask_token_rate = float(mask_token_rate)
        self.random_token_rate = float(random_token_rate)
        self.special_token_ids = ids
        self.built = True

    def default_optimizer(self):
        """AdamW, learning rate 5e-4, weight decay 0.01 (BERT-style)."""
        return keras.optimizers.AdamW(learning_rate=5e-4, weight_decay=0.01)

    def extra_metrics(self):
        return [self.accuracy_tracker]

    def pack(self, inputs):
        """Strings or token ids -> (token_ids, padding_mask), (N, L) each."""
        inputs = tf.convert_to_tensor(inputs) if not isinstance(
            inputs, (tf.RaggedTensor, tf.Tensor)) else inputs
        if inputs.dtype == tf.string:
            if inputs.shape.rank == 2 and inputs.shape[-1] == 1:
                inputs = tf.squeeze(inputs, -1)
            tokens = self.tokenizer(inputs)
        elif inputs.dtype.is_integer:
            tokens = inputs
        else:
            raise TypeError(
                f"{type(self).__name__} expects strings or integer token ids, got "
                f"dtype {inputs.dtype.name}."
            )
        if isinstance(tokens, tf.Tensor) and tokens.shape.rank == 2 and \
                tokens.shape[-1] == self.sequence_length and inputs.dtype != tf.string:
            token_ids = tf.cast(tokens, "int32")
            return token_ids, token_ids != self.special_token_ids["[PAD]"]
        token_ids, padding_mask = self.packer(tokens)
        return tf.cast(token_ids, "int32"), padding_mask

    def prepare_inputs(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.pack(x)

    def compute_ssl_loss(self, inputs, training=True):
        token_ids, padding_mask = inputs
        masked = self.masker(token_ids)
        outputs = self.backbone(
            {
                "token_ids": masked["token_ids"],
                "segment_ids": tf.zeros_like(token_ids),
                "padding_mask": padding_mask,
            },
            training=training,
        )
        logits = self.mlm_head(outputs["sequence_output"], masked["mask_positions"])
        weights = tf.cast(masked["mask_weights"], "float32")
        per_token = keras.losses.sparse_categorical_crossentropy(
            masked["mask_ids"], tf.cast(logits, "float32"), from_logits=True
        )
        loss = tf.reduce_sum(per_token * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)
        self.accuracy_tracker.update_state(masked["mask_ids"], logits, sample_weight=weights)
        return loss, {}

    def compile_logs(self, logs):
        logs = dict(logs or {})
        logs["perplexity"] = tf.exp(self.loss_tracker.result())
        return super().compile_logs(logs)

    def call(self, inputs, training=False):
        """Pooled embeddings of strings or token ids: (N, hidden_dim)."""
        token_ids, padding_mask = self.pack(inputs)
        outputs = self.backbone(
            {"token_ids": token_ids, "segment_ids": tf.zeros_like(token_ids),
             "padding_mask": padding_mask},
            training=training,
        )
        return outputs["pooled_output"]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
                # keras-hub keeps the vocabulary in the file's assets, which
                # load after the constructor runs; the constructor needs it.
                "vocabulary": list(self.tokenizer.get_vocabulary()),
                "sequence_length": self.sequence_length,
                "mask_rate": self.mask_rate,
                "mask_token_rate": self.mask_token_rate,
                "random_token_rate": self.random_token_rate,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        vocabulary = config.pop("vocabulary", None)
        tokenizer = keras.saving.deserialize_keras_object(config["tokenizer"])
        if vocabulary is not None:
            tokenizer.set_vocabulary(vocabulary)
        config["tokenizer"] = tokenizer
        return cls(**config)
