"""TinyBERT's Transformer distillation: a frozen BERT teacher taught to a
smaller BERT student on unlabeled text, layer by layer."""

import math
import numbers

import keras
import keras_hub
import tensorflow as tf

from keras_ssl.losses.distillation import attention_mse
from keras_ssl.losses.distillation import hidden_state_mse
from keras_ssl.methods.distillation import _freeze
from keras_ssl.methods.text_method import TextMethod


def attention_logits(encoder, inputs):
    """The self-attention logits of a keras-hub `TransformerEncoder` on its
    `inputs`, before the mask and the softmax: (N, heads, L, L), query by
    key, float32.

    `q . k / sqrt(key_dim)` from the layer's own query and key
    projections, as its `MultiHeadAttention` computes them (after the
    layer's first layer norm when it normalizes first); the softmax of
    these logits over the real keys is the attention the layer applies.
    keras-hub's `return_attention_scores=True` gives only the softmax
    probabilities.
    """
    if encoder.normalize_first:
        inputs = encoder._self_attention_layer_norm(inputs)
    attention = encoder._self_attention_layer
    query = tf.cast(attention._query_dense(inputs), "float32")
    key = tf.cast(attention._key_dense(inputs), "float32")
    return tf.einsum("bqnh,bknh->bnqk", query, key) / math.sqrt(float(attention.key_dim))


def bert_layer_outputs(backbone, token_ids, padding_mask, segment_ids=None, training=False,
                       attention=False):
    """Run a keras-hub `BertBackbone` layer by layer; every layer's output.

    The backbone's own layers are called in its order (`token_embedding`,
    `position_embedding` and `segment_embedding` summed by
    `embeddings_add`, `embeddings_layer_norm`, `embeddings_dropout`, then
    each `transformer_layer_{i}` with the padding mask, and `pooled_dense`
    on `[CLS]`), so the last hidden state and the pooled output are the
    backbone's `sequence_output` and `pooled_output`.

    Args:
        backbone: a `keras_hub.models.BertBackbone`.
        token_ids: (N, L) int token ids.
        padding_mask: (N, L), True at the real tokens.
        segment_ids: (N, L) segment ids; default zeros.
        training: dropout on (the student) or off (the teacher).
        attention: also return each layer's attention logits.

    Returns:
        A dict: `embeddings` (N, L, H), the embedding block's output;
        `hidden_states`, a list of `num_layers` (N, L, H) outputs, one a
        transformer layer; `pooled_output` (N, H); with `attention`,
        `attention_logits`, a list of `num_layers` (N, heads, L, L)
        float32 attention logits before the mask and the softmax, query by
        key (`attention_logits`).

    Example:

    >>> import keras_ssl, numpy as np
    >>> bert = keras_ssl.backbones.BertTiny(20, max_sequence_length=8, hidden_dim=16,
    ...                                     intermediate_dim=32)
    >>> ids, mask = np.ones((2, 8), "int32"), np.ones((2, 8), bool)
    >>> out = bert_layer_outputs(bert, ids, mask, attention=True)
    >>> [tuple(h.shape) for h in out["hidden_states"]], tuple(out["attention_logits"][0].shape)
    ([(2, 8, 16), (2, 8, 16)], (2, 2, 8, 8))
    """
    layer = backbone.get_layer
    if segment_ids is None:
        segment_ids = keras.ops.zeros_like(token_ids)
    tokens = layer("token_embedding")(token_ids)
    x = layer("embeddings_add")(
        (tokens, layer("position_embedding")(tokens), layer("segment_embedding")(segment_ids)))
    x = layer("embeddings_layer_norm")(x)
    x = layer("embeddings_dropout")(x, training=training)
    outputs = {"embeddings": x, "hidden_states": []}
    if attention:
        outputs["attention_logits"] = []
    for i in range(backbone.num_layers):
        encoder = layer(f"transformer_layer_{i}")
        if attention:
            outputs["attention_logits"].append(attention_logits(encoder, x))
        x = encoder(x, padding_mask=padding_mask, training=training)
        outputs["hidden_states"].append(x)
    outputs["pooled_output"] = layer("pooled_dense")(x[:, backbone.cls_token_index, :])
    return outputs


def layer_mapping(student_layers, teacher_layers):
    """TinyBERT's uniform layer mapping, 0-based teacher layer indices.

    Student layer `m` (1 to N) learns from teacher layer
    `g(m) = m * M // N` (1 to M): every `M / N`-th teacher layer when `N`
    divides `M`, the last layer always from the last.

    Example:

    >>> layer_mapping(4, 12), layer_mapping(1, 2)
    ((2, 5, 8, 11), (1,))
    """
    return tuple(m * teacher_layers // student_layers - 1 for m in range(1, student_layers + 1))


def _type_name(model):
    return type(model).__name__


@keras.saving.register_keras_serializable(package="keras_ssl")
class TinyBERTDistillation(TextMethod):
    """TinyBERT's general distillation (Jiao et al. 2020, "TinyBERT:
    Distilling BERT for Natural Language Understanding"): a smaller BERT
    `student` learns to reproduce a frozen, pretrained BERT `teacher`
    layer by layer on unlabeled text.

    Usually built as `Distillation(teacher=mlm, student=bert,
    mode="tinybert")`, which returns this class.

    Every train step tokenizes the batch with the teacher's tokenizer,
    packs each text as `[CLS] tokens [SEP] [PAD]...` (no masking: the
    texts are seen as they are) and runs both BERTs layer by layer
    (`bert_layer_outputs`): the teacher in inference mode, the student
    with dropout. With `M` teacher and `N` student layers, student layer
    `m` learns from teacher layer `g(m) = m * M // N` (`layer_mapping`,
    the paper's uniform strategy). The loss is the sum of

    * the embedding loss: MSE between the student's embedding-block output
      mapped to the teacher's width by a learned `Dense` map
      (`embedding_projection`, the paper's `W_e`) and the teacher's;
    * the hidden-state loss: for each student layer `m`, MSE between its
      output mapped by a learned `Dense` map (`hidden_projection`, the
      paper's `W_h`, one map shared by all layers) and the output of
      teacher layer `g(m)`, summed over the layers;
    * the attention loss, times `attention_weight`: for each student layer
      `m`, MSE between its attention logits and those of teacher layer
      `g(m)`, head by head, summed over the layers. As in the paper, the
      logits before the softmax (`q . k / sqrt(d)`, `attention_logits`)
      are matched: keras-hub's encoders return the softmax probabilities,
      whose squared differences (values in [0, 1] summing to 1 over
      the keys) are orders of magnitude below the hidden-state loss and
      would leave the attention term without effect. Matching heads one
      to one needs the same number of heads in both BERTs;
      `attention_weight=0` skips the attention loss and allows any head
      counts.

    Every loss counts the real tokens only (`keras_ssl.losses.hidden_state_mse`,
    `keras_ssl.losses.attention_mse`): padded positions, as query or key,
    are masked out. As in the paper's general distillation, the
    prediction layer (the teacher's masked-LM head) is not distilled. The
    student's `[CLS]` pooler is not trained here; `pooling="mean"` (the
    default) embeds a text by the mean of its token features, and
    `pooling="cls"` leaves the pooler to fine-tuning.

    The student is the method's `backbone` and the teacher's tokenizer its
    `tokenizer`: `call`, `embed`, `keras_ssl.evaluation.text_classifier`
    and `keras_ssl.export_text.export_text_encoder` use the student. The
    teacher is frozen (`trainable` set to False on the model passed in),
    called in inference mode and left out of the non-finite-step guard.

    Args:
        teacher: a pretrained keras_ssl text method whose backbone is a
            `keras_hub.models.BertBackbone` (e.g. a `MaskedLanguageModel`
            on `keras_ssl.backbones.BertTiny`). Frozen by the method.
        student: the `keras_hub.models.BertBackbone` to train, with the
            teacher tokenizer's `vocabulary_size`, at most as many layers
            as the teacher, and a `max_sequence_length` covering
            `sequence_length`. Its width may differ from the teacher's.
        sequence_length: tokens per packed sequence; default the
            teacher's `sequence_length`.
        attention_weight: weight of the attention loss, >= 0 (1 in the
            paper); 0 skips it.
        pooling: `"mean"` or `"cls"`, as for every text method.

    Metrics: `loss`, and its unweighted parts `embedding_loss`,
    `hidden_loss` and (with `attention_weight > 0`) `attention_loss`.

    `compile(optimizer="auto")` uses AdamW, learning rate 5e-4, weight
    decay 0.01 (the paper's 1e-4 is for a BERT-base-sized student; the
    small students here learn faster at the masked-LM rate).

    Example:

    >>> import keras_ssl
    >>> texts = ["the cat sat on the mat", "a dog ran in the park"] * 4
    >>> tok = keras_ssl.text.train_wordpiece(texts, vocabulary_size=50)
    >>> mlm = keras_ssl.methods.MaskedLanguageModel(
    ...     keras_ssl.backbones.BertTiny(tok.vocabulary_size(), max_sequence_length=16,
    ...                                  hidden_dim=32, intermediate_dim=64),
    ...     tok, sequence_length=16)
    >>> student = keras_ssl.backbones.BertTiny(tok.vocabulary_size(), max_sequence_length=16,
    ...                                        num_layers=1, hidden_dim=16, intermediate_dim=32)
    >>> model = keras_ssl.methods.Distillation(teacher=mlm, student=student, mode="tinybert")
    >>> type(model).__name__, model.layer_map
    ('TinyBERTDistillation', (1,))
    >>> model.compile(optimizer="auto")
    >>> sorted(model.fit(texts, batch_size=4, epochs=1, verbose=0).history)
    ['attention_loss', 'embedding_loss', 'hidden_loss', 'loss']
    >>> model.predict(["the cat"], verbose=0).shape  # the student's embedding
    (1, 16)
    """

    backbone_types = (keras_hub.models.BertBackbone,)

    def __init__(self, teacher, student, sequence_length=None, attention_weight=1.0,
                 pooling="mean", **kwargs):
        if not isinstance(teacher, TextMethod):
            raise TypeError(
                "`teacher` must be a pretrained keras_ssl text method with a "
                "keras_hub.models.BertBackbone (e.g. a MaskedLanguageModel), got "
                f"{_type_name(teacher)}."
            )
        if not isinstance(teacher.backbone, keras_hub.models.BertBackbone):
            raise TypeError(
                "`teacher` must have a keras_hub.models.BertBackbone: TinyBERT distillation "
                f"runs BERT's layers one by one; got a {_type_name(teacher)} on a "
                f"{_type_name(teacher.backbone)}."
            )
        if not isinstance(student, keras_hub.models.BertBackbone):
            raise TypeError(
                "`student` must be a keras_hub.models.BertBackbone (e.g. "
                "keras_ssl.backbones.BertTiny(tokenizer.vocabulary_size(), num_layers=...)), "
                f"got {_type_name(student)}."
            )
        teacher_bert = teacher.backbone
        if student is teacher_bert:
            raise ValueError(
                "`student` is the teacher's backbone; distillation trains a separate "
                "(usually smaller) BERT."
            )
        shared = {id(v) for v in teacher.weights} & {id(v) for v in student.weights}
        if shared:
            raise ValueError(
                f"`teacher` and `student` share {len(shared)} weight(s); freezing the teacher "
                "would freeze them in the student. Give the student its own layers."
            )
        vocabulary_size = teacher.tokenizer.vocabulary_size()
        if student.vocabulary_size != vocabulary_size:
            raise ValueError(
                f"`student` has vocabulary_size {student.vocabulary_size}, the teacher's "
                f"tokenizer {vocabulary_size} tokens: build the student with "
                "vocabulary_size=teacher.tokenizer.vocabulary_size()."
            )
        if sequence_length is None:
            sequence_length = teacher.sequence_length
            where = "the teacher's `sequence_length`"
        else:
            where = "`sequence_length`"
            if (isinstance(sequence_length, bool)
                    or not isinstance(sequence_length, numbers.Integral)):
                raise TypeError(
                    f"`sequence_length` must be an integer or None, got {sequence_length!r}.")
            if sequence_length > teacher_bert.max_sequence_length:
                raise ValueError(
                    f"`sequence_length` ({sequence_length}) is larger than the teacher "
                    f"backbone's max_sequence_length ({teacher_bert.max_sequence_length})."
                )
        if student.max_sequence_length < sequence_length:
            raise ValueError(
                f"`student` has max_sequence_length {student.max_sequence_length}, smaller "
                f"than {where} ({sequence_length}): build the student with "
                f"max_sequence_length >= {sequence_length}."
            )
        if student.num_layers > teacher_bert.num_layers:
            raise ValueError(
                f"`student` has {student.num_layers} layers, more than the teacher's "
                f"{teacher_bert.num_layers}: each student layer learns from a teacher layer "
                "of its own (TinyBERT's mapping); use a student with fewer layers."
            )
        if (isinstance(attention_weight, bool)
                or not isinstance(attention_weight, numbers.Real) or not attention_weight >= 0):
            raise ValueError(
                f"`attention_weight` must be a number >= 0, got {attention_weight!r}.")
        if attention_weight > 0 and student.num_heads != teacher_bert.num_heads:
            raise ValueError(
                f"`student` has {student.num_heads} attention heads and the teacher "
                f"{teacher_bert.num_heads}: attention maps are matched head by head. Build "
                f"the student with num_heads={teacher_bert.num_heads}, or pass "
                "attention_weight=0 to skip the attention loss."
            )
        super().__init__(student, teacher.tokenizer, int(sequence_length), pooling=pooling,
                         **kwargs)

        # === Layers ===
        _freeze(teacher)
        self.teacher = teacher
        width = (None, None, student.hidden_dim)
        self.embedding_projection = keras.layers.Dense(
            teacher_bert.hidden_dim, dtype=student.dtype_policy, name="embedding_projection")
        self.embedding_projection.build(width)
        self.hidden_projection = keras.layers.Dense(
            teacher_bert.hidden_dim, dtype=student.dtype_policy, name="hidden_projection")
        self.hidden_projection.build(width)
        self.embedding_tracker = keras.metrics.Mean(name="embedding_loss")
        self.hidden_tracker = keras.metrics.Mean(name="hidden_loss")
        self.attention_tracker = keras.metrics.Mean(name="attention_loss")

        # === Config ===
        self.attention_weight = float(attention_weight)
        self.layer_map = layer_mapping(student.num_layers, teacher_bert.num_layers)
        self.built = True

    @property
    def student(self):
        """The student BERT (the same model as `backbone`)."""
        return self.backbone

    # Optimizer --------------------------------------------------------------

    def default_optimizer(self):
        """AdamW, learning rate 5e-4, weight decay 0.01 (see the class docstring)."""
        return keras.optimizers.AdamW(learning_rate=5e-4, weight_decay=0.01)

    def extra_metrics(self):
        trackers = [self.embedding_tracker, self.hidden_tracker]
        if self.attention_weight > 0:
            trackers.append(self.attention_tracker)
        return trackers

    def unguarded_state(self):
        return list(self.teacher.weights)

    # Loss -------------------------------------------------------------------

    def distillation_losses(self, token_ids, padding_mask, training=True):
        """The unweighted parts of the loss for packed inputs: a dict of
        scalar `embedding`, `hidden` and (with `attention_weight > 0`)
        `attention` losses, plus the student's `pooled_output`."""
        attention = self.attention_weight > 0
        teacher = bert_layer_outputs(self.teacher.backbone, token_ids, padding_mask,
                                     training=False, attention=attention)
        teacher = tf.nest.map_structure(tf.stop_gradient, teacher)
        student = bert_layer_outputs(self.backbone, token_ids, padding_mask,
                                     training=training, attention=attention)
        losses = {
            "embedding": hidden_state_mse(
                self.embedding_projection(student["embeddings"]), teacher["embeddings"],
                padding_mask),
            "hidden": tf.add_n([
                hidden_state_mse(self.hidden_projection(hidden),
                                 teacher["hidden_states"][g], padding_mask)
                for hidden, g in zip(student["hidden_states"], self.layer_map)
            ]),
            "pooled_output": student["pooled_output"],
        }
        if attention:
            losses["attention"] = tf.add_n([
                attention_mse(logits, teacher["attention_logits"][g], padding_mask)
                for logits, g in zip(student["attention_logits"], self.layer_map)
            ])
        return losses

    def compute_ssl_loss(self, inputs, training=True):
        token_ids, padding_mask = inputs
        losses = self.distillation_losses(token_ids, padding_mask, training=training)
        loss = losses["embedding"] + losses["hidden"]
        self.embedding_tracker.update_state(losses["embedding"])
        self.hidden_tracker.update_state(losses["hidden"])
        if "attention" in losses:
            loss = loss + self.attention_weight * losses["attention"]
            self.attention_tracker.update_state(losses["attention"])
        # The student's pooler is not distilled: zero gradients, not none.
        return self.idle_pooler(loss, {"pooled_output": losses["pooled_output"]}), {}

    # Serialization ----------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        # The tokenizer is the teacher's, saved with it.
        config.pop("tokenizer")
        config.pop("backbone")
        config.update({
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "student": keras.saving.serialize_keras_object(self.backbone),
            "attention_weight": self.attention_weight,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("teacher", "student"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
