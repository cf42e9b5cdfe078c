"""Accuracy of a classifier under adversarial attack, per budget."""

import sys

import keras
import numpy as np
import tensorflow as tf

from keras_ssl.adversarial import Attack
from keras_ssl.evaluation.probes import _check_pair
from keras_ssl.utils import check_images


def _outputs_probabilities(model):
    """Whether `model` ends in a softmax (else its outputs are logits)."""
    last = model.layers[-1] if getattr(model, "layers", None) else None
    activation = getattr(last, "activation", None)
    return activation is keras.activations.softmax or getattr(activation, "__name__", "") == "softmax"


def check_classifier(model, argument="model"):
    """Return the number of classes of a classifier mapping inputs to
    (N, K) probabilities or logits; raise naming `argument` otherwise."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"`{argument}` must be a keras.Model classifier (inputs to class probabilities or "
            f"logits), got {type(model).__name__}.")
    try:
        shape = model.output_shape
    except (AttributeError, ValueError):
        shape = None
    if shape is None or isinstance(shape, list) or len(shape) != 2 or not shape[-1]:
        raise ValueError(
            f"`{argument}` must output class scores of shape (batch, classes), got output "
            f"shape {shape!r}.")
    return int(shape[-1])


def _padded_batch(x, y, start, batch_size):
    """Images and labels `start:start + batch_size`; a short last batch is
    padded (label -1, never counted as correct) so that every batch has one
    shape and the attack is traced once."""
    images = np.asarray(x[start:start + batch_size], "float32")
    labels = np.asarray(y[start:start + batch_size], "int64")
    missing = batch_size - len(images)
    if missing and len(x) > batch_size:
        images = np.concatenate([images, np.zeros((missing,) + images.shape[1:], "float32")])
        labels = np.concatenate([labels, np.full(missing, -1, "int64")])
    return tf.convert_to_tensor(images), tf.convert_to_tensor(labels)


def robust_accuracy(model, data, attack, epsilons=None, batch_size=256, from_logits=None,
                    verbose="auto"):
    """Accuracy of a classifier on adversarial examples, per attack budget.

    Each test batch is attacked with `attack` against the cross-entropy of
    the model (in inference mode) with the true labels, then classified.

    Args:
        model: a classifier from raw images ([0, 255]) to (N, K) class
            probabilities or logits, e.g. `fine_tune`'s model.
        data: `(x_test, y_test)`, integer labels.
        attack: a `keras_ssl.adversarial` attack, e.g.
            `PGD(epsilon=0.1, steps=20)`.
        epsilons: budgets to evaluate (the [0, 1] pixel scale), each with
            `attack.with_epsilon(e)`; default: the attack's own epsilon.
            Clean accuracy (epsilon 0) is always the first row.
        from_logits: whether the model outputs logits; default: inferred
            (probabilities when its last layer has a softmax activation).
        verbose: a progress bar over the batches of each budget ("auto":
            when the output is a terminal).

    Returns:
        a list of rows, one per budget: `{"attack", "norm", "steps",
        "epsilon", "accuracy"}`.
    """
    if not isinstance(attack, Attack):
        raise TypeError(
            "`attack` must be an attack from keras_ssl.adversarial (FGSM, PGD), got "
            f"{type(attack).__name__}.")
    num_classes = check_classifier(model)
    x, y = _check_pair("data", data)
    check_images(x, name="data images")
    if int(y.max()) >= num_classes or int(y.min()) < 0:
        raise ValueError(
            f"`data` labels must be in [0, {num_classes}) for a model with {num_classes} "
            f"outputs, got labels in [{int(y.min())}, {int(y.max())}].")
    if epsilons is None:
        epsilons = [attack.epsilon]
    epsilons = [float(e) for e in np.atleast_1d(epsilons)]
    if any(e < 0 for e in epsilons):
        raise ValueError(f"`epsilons` must be >= 0, got {epsilons}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    if from_logits is None:
        from_logits = not _outputs_probabilities(model)
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 0
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, reduction=None)

    @tf.function
    def correct(images, labels, epsilon, step_size):
        def attacked_loss(inputs):
            real = tf.cast(labels >= 0, "float32")  # padding rows add nothing
            return loss(tf.maximum(labels, 0), model(inputs, training=False)) * real

        adversarial = attack.perturb_within(attacked_loss, images, epsilon, step_size)
        return tf.reduce_sum(tf.cast(tf.equal(tf.argmax(
            model(adversarial, training=False), axis=-1), labels), "int64"))

    @tf.function
    def correct_clean(images, labels):
        return tf.reduce_sum(tf.cast(tf.equal(tf.argmax(
            model(images, training=False), axis=-1), labels), "int64"))

    rows = []
    for epsilon in [0.0] + [e for e in epsilons if e > 0]:
        step_size = attack.with_epsilon(epsilon).effective_step_size() if epsilon else 0.0
        hits = 0
        progress = keras.utils.Progbar(int(np.ceil(len(x) / batch_size))) if verbose else None
        for start in range(0, len(x), batch_size):
            images, labels = _padded_batch(x, y, start, batch_size)
            if epsilon:
                hits += int(correct(images, labels, tf.constant(epsilon, "float32"),
                                    tf.constant(step_size, "float32")))
            else:
                hits += int(correct_clean(images, labels))
            if progress is not None:
                progress.add(1)
        rows.append({
            "attack": type(attack).__name__,
            "norm": attack.norm,
            "steps": attack.steps,
            "epsilon": epsilon,
            "accuracy": hits / len(x),
        })
    return rows


def random_like(encoder):
    """The same architecture as `encoder`, randomly initialised (keras_ssl
    backbones are rebuilt from their config; other models cloned)."""
    from keras_ssl.backbones.backbone import Backbone

    if isinstance(encoder, Backbone):
        return type(encoder).from_config(encoder.get_config())
    return keras.models.clone_model(encoder)


def compare_robustness(encoders, train_data, test_data, adversarial=None, attack=None,
                       epsilons=(0.02, 0.05, 0.1), corruptions="all", severities=(1, 3, 5),
                       fine_tune_options=None, seed=0, verbose="auto"):
    """Fine-tune each encoder with and without adversarial training, then
    measure clean, adversarial and corruption accuracy of every classifier.

    Args:
        encoders: `{name: encoder}` (e.g. a SimCLR encoder, an
            adversarially pretrained one, and `random_like` of one of them
            for training from scratch).
        train_data, test_data: `(x, y)` labelled images ([0, 255]).
        adversarial: the attack of adversarial fine-tuning; default
            `PGD(epsilon=0.1, steps=5)`.
        attack: the evaluation attack; default `PGD(epsilon=0.1, steps=20)`.
            Its epsilon is the headline budget (`"robust"` in the result).
        epsilons: more budgets for the accuracy-against-budget curve.
        corruptions, severities: of `corruption_accuracy`.
        fine_tune_options: keyword arguments of `fine_tune` (epochs,
            learning_rate, batch_size, ...), the same for every classifier.

    Returns:
        `{label: {"encoder", "fine_tuning", "clean", "robust",
        "mean_corruption", "attack": rows,
        "corruption": rows}}`, one entry per encoder and fine-tuning
        ("standard" or "adversarial"); `attack` and `corruption` rows are
        `robust_accuracy`'s and `corruption_accuracy`'s tables, which
        `keras_ssl.visualize.plot_robustness` draws.
    """
    from keras_ssl.adversarial import PGD
    from keras_ssl.evaluation.corruptions import corruption_accuracy
    from keras_ssl.evaluation.corruptions import mean_corruption_accuracy
    from keras_ssl.evaluation.fine_tune import fine_tune

    if not isinstance(encoders, dict) or not encoders:
        raise ValueError(f"`encoders` must be a non-empty dict of name: encoder, got {encoders!r}.")
    adversarial = adversarial if adversarial is not None else PGD(0.1, steps=5)
    attack = attack if attack is not None else PGD(0.1, steps=20)
    for name, value in (("adversarial", adversarial), ("attack", attack)):
        if not isinstance(value, Attack):
            raise TypeError(f"`{name}` must be an attack from keras_ssl.adversarial, got "
                            f"{type(value).__name__}.")
    _check_pair("train_data", train_data)
    _check_pair("test_data", test_data)
    budgets = sorted({float(e) for e in epsilons} | {attack.epsilon})
    options = dict(fine_tune_options or {})
    results = {}
    for name, encoder in encoders.items():
        for mode, training_attack in (("standard", None), ("adversarial", adversarial)):
            label = f"{name}, {mode} fine-tuning"
            if verbose:
                print(f"{label}: fine-tuning", flush=True)
            model, _ = fine_tune(encoder, train_data, test_data, adversarial=training_attack,
                                 seed=seed, verbose=0, **options)
            attack_rows = robust_accuracy(model, test_data, attack, epsilons=budgets,
                                          verbose=verbose)
            corruption_rows = corruption_accuracy(model, test_data, corruptions=corruptions,
                                                  severities=severities, seed=seed,
                                                  verbose=verbose)
            headline = next(r for r in attack_rows if r["epsilon"] == attack.epsilon)
            results[label] = {
                "encoder": name,
                "fine_tuning": mode,
                "clean": attack_rows[0]["accuracy"],
                "robust": headline["accuracy"],
                "mean_corruption": mean_corruption_accuracy(corruption_rows),
                "attack": attack_rows,
                "corruption": corruption_rows,
            }
            if verbose:
                entry = results[label]
                print(f"{label}: clean {entry['clean']:.4f}, {attack.describe()} "
                      f"{entry['robust']:.4f}, corruptions {entry['mean_corruption']:.4f}",
                      flush=True)
    return results


def robustness_table(report):
    """A markdown table of a `keras-ssl robust` report (robustness.json):
    one row per classifier, clean, attacked and corrupted accuracy."""
    attack = Attack.from_config(report["attack"])
    attack_name = f"PGD-{attack.steps} at {attack.epsilon:g}"
    lines = [f"| encoder | fine-tuning | clean | {attack_name} | mean over corruptions |",
             "|---|---|---|---|---|"]
    for entry in report["results"].values():
        lines.append(f"| {entry['encoder']} | {entry['fine_tuning']} | {entry['clean']:.4f} "
                     f"| {entry['robust']:.4f} | {entry['mean_corruption']:.4f} |")
    return "\n".join(lines)
