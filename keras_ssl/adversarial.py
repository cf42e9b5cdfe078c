"""Adversarial attacks as objects a method, a fine-tuning run or an evaluation takes.

`FGSM` and `PGD` (L-inf or L2) attack images; `FGM` attacks continuous
inputs with no pixel range (embeddings). Each attack has one entry point,
`perturb(loss_fn, x)`: it returns the input, moved within the attack's
budget so as to increase `loss_fn`, with no gradient flowing back through
it. It is plain TensorFlow (a `tf.while_loop` around a `GradientTape`,
unrolled under a multi-replica strategy, where a step may synchronise
replicas), so it runs inside a `train_step`, under XLA (`jit_compile=True`)
and in the replica context of a `tf.distribute` strategy.

Budgets (`epsilon`, `step_size`) are on the [0, 1] scale of pixel values,
as the papers state them, whatever range the model's inputs use: keras_ssl
images are in [0, 255], so `PGD(epsilon=8/255)` moves each pixel by at most
8 grey levels. `pixel_range` gives the range of the inputs; the attack
scales its budget by its width and keeps the adversarial images inside it.

Neither Keras nor TensorFlow ships attacks (CleverHans and the Adversarial
Robustness Toolbox are separate projects, built for Keras 2 or PyTorch),
hence this module.
"""

import numbers

import keras
import tensorflow as tf

NORMS = ("linf", "l2")


def _check_positive(name, value, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number, got {value!r}.")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"`{name}` must be {bound}, got {value!r}.")
    return float(value)


class Attack:
    """Base of the attacks: a budget, a norm, a number of gradient steps.

    Args:
        epsilon: the radius of the perturbation ball, on the [0, 1] pixel
            scale (an L-inf or L2 radius, see `norm`); 0 leaves inputs as
            they are.
        steps: gradient-ascent steps (>= 1).
        step_size: the size of each step, on the same scale as `epsilon`;
            default `2.5 * epsilon / steps` (Madry et al. 2018).
        norm: `"linf"` (each value moves by at most epsilon) or `"l2"`
            (the whole perturbation of a sample has L2 norm <= epsilon).
        random_start: start from a uniformly drawn point of the ball.
        pixel_range: `(low, high)` of the inputs, or None for unbounded
            inputs (embeddings: then `epsilon` is in the inputs' own units).
    """

    name = "attack"

    def __init__(self, epsilon, steps=1, step_size=None, norm="linf", random_start=False,
                 pixel_range=(0.0, 255.0)):
        self.epsilon = _check_positive("epsilon", epsilon, allow_zero=True)
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
            raise ValueError(f"`steps` must be an integer >= 1, got {steps!r}.")
        self.steps = int(steps)
        if step_size is not None:
            step_size = _check_positive("step_size", step_size)
        self.step_size = step_size
        if norm not in NORMS:
            raise ValueError(f"`norm` must be one of {NORMS}, got {norm!r}.")
        self.norm = norm
        self.random_start = bool(random_start)
        if pixel_range is not None:
            try:
                low, high = (float(v) for v in pixel_range)
            except (TypeError, ValueError):
                raise ValueError(
                    f"`pixel_range` must be a pair (low, high) or None, got {pixel_range!r}."
                ) from None
            if not high > low:
                raise ValueError(
                    f"`pixel_range` must have low < high, got {tuple(pixel_range)!r}.")
            pixel_range = (low, high)
        self.pixel_range = pixel_range

    # Budget -------------------------------------------------------------------

    @property
    def scale(self):
        """How many input units one unit of `epsilon` is."""
        if self.pixel_range is None:
            return 1.0
        return self.pixel_range[1] - self.pixel_range[0]

    def effective_step_size(self):
        """The step size on the [0, 1] scale (the default resolved)."""
        if self.step_size is not None:
            return self.step_size
        return 2.5 * self.epsilon / self.steps if self.steps > 1 else self.epsilon

    def with_epsilon(self, epsilon):
        """A copy of this attack with another budget (the default step size
        follows it; an explicit one is scaled with it)."""
        config = self.get_config()
        if config.get("step_size") is not None and self.epsilon > 0:
            config["step_size"] = config["step_size"] * float(epsilon) / self.epsilon
        config["epsilon"] = epsilon
        return type(self).from_config(config)

    def describe(self):
        """A short name of the attack and its budget, e.g. `PGD-20 linf 0.1`."""
        steps = f"-{self.steps}" if self.steps > 1 else ""
        return f"{type(self).__name__}{steps} {self.norm} {self.epsilon:g}"

    # Attack -------------------------------------------------------------------

    def perturb(self, loss_fn, x, state=()):
        """Return adversarial inputs: `x` moved within the budget to
        increase `loss_fn(x)`, with the gradient stopped.

        Args:
            loss_fn: maps a batch like `x` to a scalar loss (or per-sample
                losses, which are summed) to be increased.
            x: a float batch (N, ...).
            state: variables the forward passes of `loss_fn` change and
                that must not keep those changes (batch-norm moving
                statistics of a model attacked in training mode); they are
                put back once the attack is done.
        """
        x = tf.stop_gradient(tf.cast(x, "float32"))
        if self.epsilon == 0:
            return x
        return self.perturb_within(loss_fn, x, self.epsilon, self.effective_step_size(),
                                   state=state)

    def perturb_within(self, loss_fn, x, epsilon, step_size, state=()):
        """`perturb` with the budget given as (possibly tensor) values on
        the [0, 1] scale, so one traced function serves several budgets."""
        x = tf.stop_gradient(tf.cast(x, "float32"))
        saved = [tf.identity(v) for v in state]
        epsilon = tf.cast(epsilon, "float32") * self.scale
        step = tf.cast(step_size, "float32") * self.scale
        delta = self._initial_delta(x, epsilon)

        def body(i, delta):
            with tf.GradientTape() as tape:
                tape.watch(delta)
                loss = tf.reduce_sum(tf.cast(loss_fn(x + delta), "float32"))
            gradient = tf.cast(tape.gradient(loss, delta), "float32")
            delta = self._project(delta + step * self._direction(gradient), epsilon)
            return i + 1, self._clip_to_range(x, delta)

        if tf.distribute.get_strategy().num_replicas_in_sync > 1:
            # Unrolled: a step may synchronise replicas (synchronised batch
            # norm), which TensorFlow does not allow inside a while loop.
            for i in range(self.steps):
                _, delta = body(i, delta)
        else:
            _, delta = tf.while_loop(lambda i, _: i < self.steps, body,
                                     (tf.constant(0), delta), maximum_iterations=self.steps)
        adversarial = tf.stop_gradient(x + delta)
        if saved:
            with tf.control_dependencies([adversarial]):
                restores = [v.assign(value) for v, value in zip(state, saved)]
            with tf.control_dependencies(restores):
                adversarial = tf.identity(adversarial)
        return adversarial

    def _sample_norms(self, t):
        axes = list(range(1, t.shape.rank))
        return tf.sqrt(tf.reduce_sum(tf.square(t), axis=axes, keepdims=True))

    def _initial_delta(self, x, epsilon):
        if not self.random_start:
            return tf.zeros_like(x)
        if self.norm == "linf":
            delta = tf.random.uniform(tf.shape(x), -epsilon, epsilon)
        else:
            # A uniform point of the L2 ball: a Gaussian direction, a radius
            # with density proportional to r^(d-1).
            direction = tf.random.normal(tf.shape(x))
            direction /= self._sample_norms(direction) + 1e-12
            size = tf.cast(tf.reduce_prod(tf.shape(x)[1:]), "float32")
            radius = epsilon * tf.random.uniform(
                tf.concat([tf.shape(x)[:1], tf.ones([tf.rank(x) - 1], tf.int32)], 0)) ** (1.0 / size)
            delta = direction * radius
        return self._clip_to_range(x, delta)

    def _direction(self, gradient):
        if self.norm == "linf":
            return tf.sign(gradient)
        return gradient / (self._sample_norms(gradient) + 1e-12)

    def _project(self, delta, epsilon):
        if self.norm == "linf":
            return tf.clip_by_value(delta, -epsilon, epsilon)
        norms = self._sample_norms(delta)
        return delta * tf.minimum(1.0, epsilon / (norms + 1e-12))

    def _clip_to_range(self, x, delta):
        if self.pixel_range is None:
            return delta
        low, high = self.pixel_range
        return tf.clip_by_value(x + delta, low, high) - x

    # Serialization ------------------------------------------------------------

    def get_config(self):
        return {
            "epsilon": self.epsilon,
            "steps": self.steps,
            "step_size": self.step_size,
            "norm": self.norm,
            "random_start": self.random_start,
            "pixel_range": list(self.pixel_range) if self.pixel_range is not None else None,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


@keras.saving.register_keras_serializable(package="keras_ssl")
class PGD(Attack):
    """Projected gradient descent (Madry et al. 2018, "Towards Deep Learning
    Models Resistant to Adversarial Attacks"): `steps` signed-gradient (L-inf)
    or normalised-gradient (L2) ascent steps from a random start in the
    ball, each followed by a projection onto the ball and the pixel range.

    >>> import keras_ssl
    >>> keras_ssl.adversarial.PGD(epsilon=8 / 255, steps=3).describe()
    'PGD-3 linf 0.0313725'
    """

    def __init__(self, epsilon, steps=10, step_size=None, norm="linf", random_start=True,
                 pixel_range=(0.0, 255.0)):
        super().__init__(epsilon, steps=steps, step_size=step_size, norm=norm,
                         random_start=random_start, pixel_range=pixel_range)


@keras.saving.register_keras_serializable(package="keras_ssl")
class FGSM(Attack):
    """The fast gradient sign method (Goodfellow et al. 2015, "Explaining and
    Harnessing Adversarial Examples"): one step of `epsilon` along the sign
    of the gradient. `random_start=True` gives the "fast is better than
    free" variant (Wong et al. 2020), with `step_size` 1.25 epsilon there.
    """

    def __init__(self, epsilon, step_size=None, random_start=False, pixel_range=(0.0, 255.0)):
        super().__init__(epsilon, steps=1, step_size=step_size, norm="linf",
                         random_start=random_start, pixel_range=pixel_range)

    def get_config(self):
        config = super().get_config()
        del config["steps"], config["norm"]
        return config


@keras.saving.register_keras_serializable(package="keras_ssl")
class FGM(Attack):
    """The fast gradient method on embeddings (Miyato et al. 2017,
    "Adversarial Training Methods for Semi-Supervised Text Classification"):
    one step of L2 norm `epsilon` along the normalised gradient, on inputs
    with no range (`pixel_range=None`), so `epsilon` is in the inputs' own
    units. With `steps > 1` it is PGD on embeddings.
    """

    def __init__(self, epsilon=1.0, steps=1, step_size=None, pixel_range=None):
        super().__init__(epsilon, steps=steps, step_size=step_size, norm="l2",
                         random_start=False, pixel_range=pixel_range)

    def get_config(self):
        config = super().get_config()
        del config["norm"], config["random_start"]
        return config


ATTACKS = {"fgsm": FGSM, "pgd": PGD, "fgm": FGM}


def get(identifier, argument="adversarial"):
    """An attack from an `Attack`, None, or a dict: `{"name": "pgd",
    "epsilon": 0.1, "steps": 3, ...}` (names: fgsm, pgd, fgm; the rest are
    the attack's arguments) or a Keras-serialized attack. Config files
    (a zoo recipe's `method_kwargs`) name attacks this way. Anything else
    raises an error naming `argument`."""
    if identifier is None or isinstance(identifier, Attack):
        return identifier
    if isinstance(identifier, dict):
        if "class_name" in identifier:
            return keras.saving.deserialize_keras_object(identifier)
        options = dict(identifier)
        name = options.pop("name", None)
        if name not in ATTACKS:
            raise ValueError(
                f"`{argument}` names an attack with \"name\" in {sorted(ATTACKS)}, got "
                f"{name!r}.")
        return ATTACKS[name](**options)
    raise TypeError(
        f"`{argument}` must be an attack from keras_ssl.adversarial (FGSM, PGD, FGM), a dict "
        f"naming one, or None, got {type(identifier).__name__}."
    )


def check_attack(attack, argument="adversarial"):
    """Return `attack` if it is an `Attack` (or None), else raise naming
    `argument`."""
    if attack is None or isinstance(attack, Attack):
        return attack
    raise TypeError(
        f"`{argument}` must be an attack from keras_ssl.adversarial (FGSM, PGD, FGM) or None, "
        f"got {type(attack).__name__}."
    )


def token_embeddings(model):
    """The token-embedding matrix (a variable, vocabulary x width) of a
    text model: the `embeddings` of its layer named `token_embedding` (a
    keras-hub backbone's), else of its only `Embedding` layer."""
    layers = list(model._flatten_layers(include_self=False))
    named = [layer for layer in layers if layer.name == "token_embedding"]
    if not named:
        named = [layer for layer in layers if isinstance(layer, keras.layers.Embedding)]
    if len(named) != 1 or getattr(named[0], "embeddings", None) is None:
        raise ValueError(
            f"Adversarial training on embeddings needs one token-embedding layer in the model "
            f"(a layer named 'token_embedding' or a single Embedding layer); "
            f"{model.name!r} has {len(named)}."
        )
    return named[0].embeddings


def _add_gradients(a, b):
    if a is None or b is None:
        return a if b is None else b
    if isinstance(a, tf.IndexedSlices) or isinstance(b, tf.IndexedSlices):
        a, b = (g if isinstance(g, tf.IndexedSlices) else tf.IndexedSlices(
            g, tf.range(tf.shape(g)[0]), tf.shape(g, out_type=tf.int64)) for g in (a, b))
        return tf.IndexedSlices(tf.concat([a.values, b.values], 0),
                                tf.concat([a.indices, b.indices], 0), a.dense_shape)
    return a + b


def embedding_adversarial_step(model, data, attack):
    """One training step of `model` (a compiled Keras model on token ids or
    strings) with adversarial training on its token embeddings (Miyato et
    al. 2017, "Adversarial Training Methods for Semi-Supervised Text
    Classification"; the FGM / PGD-K recipe of text fine-tuning).

    The gradient of the loss moves the embedding row of every token in the
    batch by at most `attack.epsilon` (L2, each row on its own), in
    `attack.steps` steps; the update follows the clean loss plus the loss at
    the perturbed embeddings, and the embeddings are put back. The
    perturbation is applied to the embedding matrix itself, the one place
    every keras-hub backbone exposes: on a single device only (under a
    `tf.distribute` strategy with several replicas the step raises).

    Returns the step's logs, with `adversarial_loss`.
    """
    if tf.distribute.get_strategy().num_replicas_in_sync > 1:
        raise ValueError(
            "Adversarial training on embeddings perturbs the embedding matrix in place, "
            "which runs on one device only; train without a multi-replica strategy.")
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    embeddings = token_embeddings(model)
    weights = list(model.trainable_weights)
    index = next((i for i, w in enumerate(weights) if w is embeddings), None)
    if index is None:
        raise ValueError("Adversarial training on embeddings needs trainable token "
                         "embeddings; the backbone is frozen.")
    batch = tf.shape(next(t for t in tf.nest.flatten(x) if t is not None))[0]

    def loss_and_gradients(track):
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                       training=True)
            scaled = model.optimizer.scale_loss(loss)
        if track:
            model._loss_tracker.update_state(loss, sample_weight=batch)
        return y_pred, loss, tape.gradient(scaled, weights)

    y_pred, _, gradients = loss_and_gradients(track=True)
    epsilon = attack.epsilon * attack.scale
    step = attack.effective_step_size() * attack.scale
    delta = tf.zeros_like(embeddings)
    gradient = gradients[index]
    adversarial_loss, adversarial_gradients = None, None
    for _ in range(attack.steps):
        direction = attack._direction(tf.convert_to_tensor(gradient))
        delta = attack._project(delta + step * direction, epsilon)
        embeddings.assign_add(delta)
        _, adversarial_loss, adversarial_gradients = loss_and_gradients(track=False)
        embeddings.assign_sub(delta)
        gradient = adversarial_gradients[index]
    total = [_add_gradients(a, b) for a, b in zip(gradients, adversarial_gradients)]
    model.optimizer.apply_gradients(zip(total, weights))
    logs = model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
    logs = dict(logs)
    logs["adversarial_loss"] = adversarial_loss
    return logs


def restorable_state(model):
    """The floating-point non-trainable variables of `model` (batch-norm
    moving statistics): what an attack run in training mode must put back."""
    return [v for v in model.non_trainable_variables if tf.as_dtype(v.dtype).is_floating]


@keras.saving.register_keras_serializable(package="keras_ssl")
class AdversarialTraining(keras.Model):
    """Adversarial training of a Keras classifier with `fit` (Madry et al.
    2018): each training batch is replaced by its adversarial examples
    under `attack`, made against the compiled loss, before the usual
    Keras step runs on it.

    The wrapped `model` holds the weights: train the wrapper, then use,
    save or export `model` itself. The attack's forward passes run in
    training mode (as the update that follows); on a single device the
    batch-norm statistics they would move are put back.

    Args:
        model: a classifier mapping raw inputs to class probabilities or
            logits (e.g. `keras_ssl.evaluation.fine_tune`'s model).
        attack: a `keras_ssl.adversarial` attack.

    Example:

    >>> import numpy as np, keras, keras_ssl
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(3, activation="softmax")])
    >>> trainer = keras_ssl.adversarial.AdversarialTraining(
    ...     model, keras_ssl.adversarial.PGD(epsilon=0.1, steps=2))
    >>> trainer.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> x = np.random.default_rng(0).uniform(0, 255, (16, 8, 8, 1)).astype("float32")
    >>> history = trainer.fit(x, np.arange(16) % 3, epochs=1, verbose=0)
    """

    def __init__(self, model, attack, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras.Model, got {type(model).__name__}.")
        if attack is None:
            raise ValueError("`attack` must be an attack from keras_ssl.adversarial, got None.")
        self.classifier = model
        self.attack = check_attack(attack, "attack")
        self.built = model.built

    def call(self, inputs, training=False):
        return self.classifier(inputs, training=training)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        loss = self.loss
        if loss is None:
            raise ValueError(
                "AdversarialTraining attacks the compiled loss: pass `loss` to compile().")
        loss = keras.losses.get(loss)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        state = restorable_state(self.classifier) if replicas == 1 else ()

        def attacked_loss(inputs):
            return loss(y, self.classifier(inputs, training=True))

        adversarial = self.attack.perturb(attacked_loss, x, state=state)
        return super().train_step((adversarial, y, sample_weight))

    def get_config(self):
        config = super().get_config()
        config.update({
            "model": keras.saving.serialize_keras_object(self.classifier),
            "attack": keras.saving.serialize_keras_object(self.attack),
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(config["model"])
        config["attack"] = keras.saving.deserialize_keras_object(config["attack"])
        return cls(**config)
