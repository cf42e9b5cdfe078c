import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from keras_ssl.adversarial import FGM
from keras_ssl.adversarial import FGSM
from keras_ssl.adversarial import PGD
from keras_ssl.adversarial import AdversarialTraining
from keras_ssl.evaluation.robustness import robust_accuracy
from tests.testing import run_method_test
from tests.testing import run_model_saving_test
from tests.testing import run_serialization_test
from tests.testing import structured_images


def _fragile_feature_data(n=128, seed=0):
    """8x8 images of two classes with two cues: overall brightness
    (robust, but it overlaps between the classes) and a corner patch 6 grey
    levels above or below mid-grey (perfectly predictive, and flipped by
    any attack of 10 grey levels). Plain training uses the patch, so it is
    fragile; adversarial training at that budget has to use brightness."""
    rng = np.random.default_rng(seed)
    sign = rng.integers(0, 2, n) * 2 - 1
    levels = 127.5 + sign * rng.uniform(-10, 40, n)
    x = np.clip(levels[:, None, None, None] + rng.normal(0, 20, (n, 8, 8, 1)), 0, 255)
    x[:, :4, :4, 0] = 128 + 6 * sign[:, None, None]
    return x.astype("float32"), (sign > 0).astype("int64")


def _linear_classifier():
    keras.utils.set_random_seed(1)
    return keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Rescaling(1 / 127.5, offset=-1.0),
        keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])


@pytest.fixture(scope="module")
def classifier():
    x, y = _fragile_feature_data()
    model = _linear_classifier()
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=40, verbose=0)
    return model, (x, y)


def _linear_loss(x):
    """A loss whose gradient is known: the sum of the pixels."""
    return tf.reduce_sum(x, axis=[1, 2, 3])


def test_linf_attacks_stay_in_the_ball_and_the_pixel_range():
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (4, 6, 6, 1)), "float32")
    for attack in [FGSM(8 / 255), PGD(8 / 255, steps=5), PGD(8 / 255, steps=5, random_start=False)]:
        adversarial = attack.perturb(_linear_loss, x).numpy()
        assert np.abs(adversarial - x.numpy()).max() <= 8 + 1e-3
        assert adversarial.min() >= 0 and adversarial.max() <= 255
        # The loss grows with every pixel: each one not at 255 goes up.
        moved = adversarial - x.numpy()
        room = x.numpy() < 255 - 8
        assert np.all(moved[room] > 7.99), type(attack).__name__
    # A pixel range of [0, 1] scales the budget with it.
    small = FGSM(0.1, pixel_range=(0, 1)).perturb(_linear_loss, x / 255.0).numpy()
    assert np.abs(small - x.numpy() / 255).max() <= 0.1 + 1e-6


def test_l2_attack_and_fgm_respect_their_norm():
    x = tf.constant(np.full((3, 4, 4, 1), 100.0), "float32")
    adversarial = PGD(0.5, steps=4, norm="l2").perturb(_linear_loss, x).numpy()
    norms = np.sqrt(((adversarial - 100.0) ** 2).sum(axis=(1, 2, 3)))
    np.testing.assert_allclose(norms, 0.5 * 255, rtol=1e-3)  # the gradient pushes to the rim
    embeddings = tf.constant(np.random.default_rng(1).normal(size=(5, 7)), "float32")
    moved = FGM(epsilon=2.0).perturb(lambda e: tf.reduce_sum(e * e, axis=-1), embeddings)
    step = (moved - embeddings).numpy()
    np.testing.assert_allclose(np.linalg.norm(step, axis=-1), 2.0, rtol=1e-4)
    # FGM steps along the gradient 2e: away from the origin.
    assert np.all((step * embeddings.numpy()).sum(-1) > 0)


def test_zero_budget_and_state_restored():
    x = tf.constant(np.ones((2, 4, 4, 1)) * 50, "float32")
    assert np.array_equal(PGD(0.0).perturb(_linear_loss, x).numpy(), x.numpy())
    counter = tf.Variable(3.0)

    def loss_that_moves_state(inputs):
        counter.assign_add(1.0)
        return _linear_loss(inputs)

    PGD(0.1, steps=3).perturb(loss_that_moves_state, x, state=[counter])
    assert float(counter.numpy()) == 3.0


def test_bad_attack_arguments():
    with pytest.raises(ValueError, match="`epsilon` must be >= 0"):
        PGD(-0.1)
    with pytest.raises(ValueError, match="`steps` must be an integer >= 1"):
        PGD(0.1, steps=0)
    with pytest.raises(ValueError, match="`norm` must be one of"):
        PGD(0.1, norm="l1")
    with pytest.raises(ValueError, match="`step_size` must be > 0"):
        PGD(0.1, step_size=0)
    with pytest.raises(ValueError, match="`pixel_range`"):
        PGD(0.1, pixel_range=(1, 0))
    with pytest.raises(TypeError, match="`epsilon` must be a number"):
        FGSM("0.1")


def test_attacks_serialize_and_rescale():
    for attack in [PGD(0.1, steps=7, norm="l2"), FGSM(0.05, random_start=True), FGM(1.5)]:
        revived = run_serialization_test(attack)
        assert revived.describe() == attack.describe()
    assert PGD(0.1, steps=10).with_epsilon(0.2).effective_step_size() == pytest.approx(0.05)
    assert PGD(0.1, steps=10, step_size=0.01).with_epsilon(0.2).step_size == pytest.approx(0.02)


def test_robust_accuracy_falls_with_the_budget(classifier):
    model, data = classifier
    rows = robust_accuracy(model, data, PGD(0.1, steps=10), epsilons=[0.01, 0.3], verbose=0)
    assert [r["epsilon"] for r in rows] == [0.0, 0.01, 0.3]
    clean = np.mean(np.argmax(model.predict(data[0], verbose=0), -1) == data[1])
    assert rows[0]["accuracy"] == pytest.approx(clean)
    assert clean > 0.9
    accuracies = [r["accuracy"] for r in rows]
    assert accuracies[0] >= accuracies[1] > accuracies[2]
    # 0.3 x 255 = 76 grey levels moves every cue across mid-grey.
    assert accuracies[2] == 0.0
    # PGD is at least as strong as FGSM at the same budget.
    fgsm = robust_accuracy(model, data, FGSM(0.01), verbose=0)[1]["accuracy"]
    assert accuracies[1] <= fgsm


def test_robust_accuracy_rejects_bad_input(classifier):
    model, (x, y) = classifier
    with pytest.raises(TypeError, match="`attack`"):
        robust_accuracy(model, (x, y), attack="pgd")
    with pytest.raises(ValueError, match="labels must be in"):
        robust_accuracy(model, (x, y + 5), PGD(0.1))
    with pytest.raises(ValueError, match="`data images` must have rank 4"):
        robust_accuracy(model, (x[..., 0], y), PGD(0.1))
    with pytest.raises(ValueError, match="`epsilons` must be >= 0"):
        robust_accuracy(model, (x, y), PGD(0.1), epsilons=[-1])
    with pytest.raises(ValueError, match="class scores"):
        robust_accuracy(keras.Sequential([keras.Input((8, 8, 1))]), (x, y), PGD(0.1))


def test_adversarial_training_makes_the_classifier_robust(classifier, tmp_path):
    plain, _ = classifier
    x, y = _fragile_feature_data()
    test = _fragile_feature_data(seed=1)
    attack = PGD(0.04, steps=3)  # 10 grey levels: more than the patch's 6
    robust = _linear_classifier()
    trainer = AdversarialTraining(robust, attack)
    trainer.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    trainer.fit(x, y, epochs=40, verbose=0)
    plain_clean, plain_attacked = (r["accuracy"] for r in robust_accuracy(
        plain, test, PGD(0.04, steps=10), verbose=0))
    robust_clean, robust_attacked = (r["accuracy"] for r in robust_accuracy(
        robust, test, PGD(0.04, steps=10), verbose=0))
    # Plain training leans on the patch: perfect, and broken by the attack.
    assert plain_clean > 0.95 and plain_attacked < 0.3
    # Adversarial training trades clean accuracy for robustness.
    assert robust_attacked > plain_attacked + 0.25
    assert robust_clean < plain_clean
    revived = run_model_saving_test(trainer, x[:4], tmp_path)
    assert revived.attack.describe() == attack.describe()
    with pytest.raises(TypeError, match="`attack`"):
        AdversarialTraining(robust, "pgd")


def test_adversarial_training_under_xla(classifier):
    model, (x, y) = classifier
    clone = keras.models.clone_model(model)
    trainer = AdversarialTraining(clone, FGSM(0.05, random_start=True))
    trainer.compile("adam", "sparse_categorical_crossentropy", jit_compile=True)
    history = trainer.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_fine_tune_takes_an_attack():
    from tests.testing import random_images

    encoder = keras_ssl.backbones.ConvNet(input_shape=(8, 8, 1), filters=(4,))
    x = random_images(16, 8)
    y = np.arange(16) % 2
    model, accuracy = keras_ssl.evaluation.fine_tune(
        encoder, (x, y), (x, y), epochs=1, batch_size=8, verbose=0,
        adversarial=PGD(0.05, steps=2))
    assert isinstance(model, keras.Model) and 0.0 <= accuracy <= 1.0
    assert model.name == "fine_tuned"
    with pytest.raises(TypeError, match="`adversarial`"):
        keras_ssl.evaluation.fine_tune(encoder, (x, y), (x, y), adversarial=0.1)


def _simclr(adversarial, seed=0):
    encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8, 16))
    return keras_ssl.methods.SimCLR(encoder, projection_dim=8, seed=seed, adversarial=adversarial)


def test_adversarial_simclr_trains_saves_and_restores_batch_norm(tmp_path):
    model = _simclr(PGD(8 / 255, steps=2))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    images = structured_images(32, 16)
    losses = run_method_test(model, images, steps=6)
    assert np.all(np.isfinite(losses))
    revived = run_model_saving_test(model, images[:4], tmp_path)
    assert revived.adversarial.describe() == "PGD-2 linf 0.0313725"
    # The attack's forward passes (in training mode) leave the batch-norm
    # statistics as they were: the step then counts each image once.
    views = model.make_views(tf.constant(images[:8], "float32"))
    stats = [v for v in model.non_trainable_variables if "moving" in v.path]
    assert stats
    before = [v.numpy().copy() for v in stats]
    model.adversarial_view(views)
    for value, v in zip(before, stats):
        np.testing.assert_array_equal(value, v.numpy())
    model.encoder(views[0], training=True)  # a plain pass does move them
    assert any(not np.array_equal(value, v.numpy()) for value, v in zip(before, stats))


def test_adversarial_view_raises_the_loss():
    model = _simclr(PGD(16 / 255, steps=4))
    model.compile(optimizer="auto")
    images = tf.constant(structured_images(16, 16), "float32")
    views = model.make_views(images)
    target = model.attack_target(views)
    attacked = model.adversarial_view(views)
    before = float(tf.reduce_mean(model.attack_loss(views[0], target)))
    after = float(tf.reduce_mean(model.attack_loss(attacked, target)))
    assert after > before
    assert np.abs(attacked.numpy() - views[0].numpy()).max() <= 16 + 1e-3


def test_adversarial_moco_attacks_the_query_against_key_and_queue(tmp_path):
    encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8, 16))
    model = keras_ssl.methods.MoCo(encoder, queue_size=32, projection_dim=8, seed=0,
                                   adversarial=PGD(16 / 255, steps=3))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    images = structured_images(32, 16)
    before_weights = [w.numpy().copy() for w in model.encoder.trainable_weights]
    # (The loss rises over the first steps, as the queue's random rows give
    # way to keys: tests/methods/test_joint_embedding.py checks learning.)
    history = model.fit(images, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert any(not np.allclose(b, w.numpy())
               for b, w in zip(before_weights, model.encoder.trainable_weights))
    # The attack raises the query's InfoNCE loss against its key and the
    # queue, within the budget, and leaves the batch-norm statistics alone.
    views = model.make_views(tf.constant(images[:16], "float32"))
    target = model.attack_target(views)
    stats = [v for v in model.encoder.non_trainable_variables if "moving" in v.path]
    before_stats = [v.numpy().copy() for v in stats]
    attacked = model.adversarial_view(views)
    for value, v in zip(before_stats, stats):
        np.testing.assert_array_equal(value, v.numpy())
    before = float(tf.reduce_mean(model.attack_loss(views[0], target)))
    after = float(tf.reduce_mean(model.attack_loss(attacked, target)))
    assert after > before
    assert np.abs(attacked.numpy() - views[0].numpy()).max() <= 16 + 1e-3
    revived = run_model_saving_test(model, images[:4], tmp_path)
    assert revived.adversarial.describe() == model.adversarial.describe()


def test_adversarial_needs_a_contrastive_method():
    encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8,))
    with pytest.raises(ValueError, match="`adversarial` is not supported by BYOL"):
        keras_ssl.methods.BYOL(encoder, adversarial=PGD(0.1))
    with pytest.raises(TypeError, match="`adversarial` must be an attack"):
        keras_ssl.methods.SimCLR(encoder, adversarial="pgd")


def test_get_builds_attacks_from_config_dicts():
    from keras_ssl import adversarial

    attack = adversarial.get({"name": "pgd", "epsilon": 0.1, "steps": 3})
    assert attack.describe() == "PGD-3 linf 0.1"
    assert adversarial.get(keras.saving.serialize_keras_object(attack)).describe() == (
        attack.describe())
    assert adversarial.get(None) is None and adversarial.get(attack) is attack
    with pytest.raises(ValueError, match="\"name\" in \\['fgm', 'fgsm', 'pgd'\\]"):
        adversarial.get({"name": "cw", "epsilon": 0.1})
    with pytest.raises(TypeError, match="`adversarial` must be an attack"):
        adversarial.get(0.1)
    # A recipe's method_kwargs name the attack so.
    encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8,))
    model = keras_ssl.methods.SimCLR(encoder, adversarial={"name": "fgsm", "epsilon": 0.05})
    assert isinstance(model.adversarial, FGSM)


def _tiny_text_method():
    texts = ["good film", "bad film", "good plot", "bad plot", "fine acting", "poor acting"] * 4
    tokenizer = keras_ssl.text.train_wordpiece(texts, vocabulary_size=40)
    bert = keras_ssl.backbones.BertTiny(tokenizer.vocabulary_size(), max_sequence_length=8,
                                        hidden_dim=16, intermediate_dim=16)
    method = keras_ssl.methods.MaskedLanguageModel(bert, tokenizer, sequence_length=8)
    labels = np.array([1, 0, 1, 0, 1, 0] * 4)
    return method, np.array(texts), labels


def test_text_classifier_trains_against_embedding_attacks():
    method, texts, labels = _tiny_text_method()
    clf = keras_ssl.evaluation.text_classifier(method, num_classes=2, learning_rate=1e-12,
                                               adversarial=FGM(epsilon=1.0))
    embeddings = keras_ssl.adversarial.token_embeddings(clf)
    before = embeddings.numpy().copy()
    history = clf.fit(texts, labels, batch_size=8, epochs=1, verbose=0)
    # The perturbation is taken off again: with a zero step the embeddings
    # end where they started.
    np.testing.assert_allclose(embeddings.numpy(), before, atol=1e-6)
    logs = history.history
    assert logs["adversarial_loss"][0] >= logs["loss"][0] - 1e-6
    # With a real learning rate it trains, and the attack raises the loss.
    clf = keras_ssl.evaluation.text_classifier(method, num_classes=2, learning_rate=1e-3,
                                               adversarial=FGM(epsilon=1.0, steps=2))
    history = clf.fit(texts, labels, batch_size=8, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert np.mean(history.history["adversarial_loss"]) > np.mean(history.history["loss"])


def test_text_classifier_refuses_pixel_attacks_and_frozen_backbones():
    method, _, _ = _tiny_text_method()
    with pytest.raises(ValueError, match="use keras_ssl.adversarial.FGM"):
        keras_ssl.evaluation.text_classifier(method, 2, adversarial=PGD(0.1))
    with pytest.raises(ValueError, match="freeze_backbone"):
        keras_ssl.evaluation.text_classifier(method, 2, freeze_backbone=True,
                                             adversarial=FGM(1.0))
    with pytest.raises(TypeError, match="`adversarial`"):
        keras_ssl.evaluation.text_classifier(method, 2, adversarial="fgm")


def test_random_like_rebuilds_the_architecture_with_new_weights():
    from keras_ssl.evaluation.robustness import random_like

    encoder = keras_ssl.backbones.ConvNet(input_shape=(8, 8, 1), filters=(4,))
    twin = random_like(encoder)
    assert type(twin) is type(encoder) and twin.count_params() == encoder.count_params()
    assert twin.get_config() == encoder.get_config()
    assert any(not np.array_equal(a, b)
               for a, b in zip(twin.get_weights(), encoder.get_weights()))


def test_robust_accuracy_pads_the_last_batch_without_counting_it(classifier):
    model, data = classifier
    attack = PGD(0.02, steps=3, random_start=False)
    whole = robust_accuracy(model, data, attack, verbose=0)
    padded = robust_accuracy(model, data, attack, batch_size=48, verbose=0)  # 128 = 48 + 48 + 32
    assert [r["accuracy"] for r in padded] == pytest.approx([r["accuracy"] for r in whole])
