"""CLIP: training on image-caption pairs, zero-shot, retrieval, export, errors."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from keras_ssl.losses.info_nce import info_nce
from tests.testing import assert_all_close

COLORS = {"red": (230, 20, 20), "green": (20, 200, 20), "blue": (20, 20, 230),
          "yellow": (230, 230, 20)}
SHAPES = ("square", "bar")


def _pairs():
    """16 x 16 images of a colored square or bar, and their captions."""
    images, captions = [], []
    for name, rgb in COLORS.items():
        for shape in SHAPES:
            image = np.full((16, 16, 3), 255, "uint8")
            if shape == "square":
                image[4:12, 4:12] = rgb
            else:
                image[2:14, 7:9] = rgb
            images.append(image)
            captions.append(f"a {name} {shape}")
    return np.stack(images), np.array(captions)


@pytest.fixture(scope="module")
def pairs():
    return _pairs()


@pytest.fixture(scope="module")
def tokenizer(pairs):
    return keras_ssl.text.train_wordpiece(list(pairs[1]) + ["一个红色的方块"], vocabulary_size=200)


def _image_encoder():
    # No batch norm: its moving statistics would need far more steps than
    # the tests run before inference matches training.
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x), name="image_encoder")


def make_clip(tokenizer, **kwargs):
    keras.utils.set_random_seed(0)
    text = keras_ssl.backbones.BertTiny(tokenizer.vocabulary_size(), max_sequence_length=16,
                                        hidden_dim=16, intermediate_dim=32, num_heads=2,
                                        dropout=0.0)
    image = _image_encoder()
    kwargs.setdefault("augmenter", keras.layers.Identity())
    return keras_ssl.methods.CLIP(image, text, tokenizer, sequence_length=16, embedding_dim=16,
                                  seed=0, **kwargs)


@pytest.fixture(scope="module")
def trained(pairs, tokenizer):
    """A tiny CLIP fitted on the 8 pairs until it matches them."""
    images, captions = pairs
    clip = make_clip(tokenizer)
    clip.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = clip.fit(images, captions, batch_size=8, epochs=60, verbose=0)
    return clip, history.history


def test_loss_falls_and_pairs_are_matched(trained, pairs):
    clip, history = trained
    images, captions = pairs
    assert np.all(np.isfinite(history["loss"]))
    # The chance loss of 8 pairs is log(8) = 2.08.
    assert history["loss"][0] > 1.5 and history["loss"][-1] < 0.5, history["loss"]
    assert history["contrastive_accuracy"][-1] == 1.0
    image_z, text_z = clip.encode_images(images), clip.encode_texts(captions)
    assert image_z.shape == text_z.shape == (8, 16)
    assert_all_close(np.linalg.norm(image_z, axis=1), np.ones(8), atol=1e-5)
    recall = keras_ssl.evaluation.recall_at_k(text_z, image_z, np.arange(8), ks=(1, 5))
    assert recall == {"recall@1": 1.0, "recall@5": 1.0}


def test_zero_shot_and_retrieval(trained, pairs):
    clip, _ = trained
    images, captions = pairs
    probabilities = clip.zero_shot_classify(images, list(captions),
                                            templates=("{}", "{}"))
    assert probabilities.shape == (8, 8)
    assert_all_close(probabilities.sum(axis=1), np.ones(8), atol=1e-5)
    assert (probabilities.argmax(axis=1) == np.arange(8)).all()
    # Prompt ensembling: the class embedding is the normalised mean.
    one = clip.class_embeddings(["x"], templates=("a {}",))
    both = clip.class_embeddings(["x"], templates=("a {}", "the {}"))
    mean = clip.encode_texts(["a x", "the x"]).mean(axis=0)
    assert_all_close(both[0], mean / np.linalg.norm(mean), atol=1e-5)
    assert one.shape == (1, 16)

    indices, scores = clip.retrieve(text=["a blue bar", "a red square"], images=images, top_k=3)
    assert indices.shape == scores.shape == (2, 3)
    assert list(indices[:, 0]) == [list(captions).index("a blue bar"),
                                   list(captions).index("a red square")]
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    indices, _ = clip.retrieve(text=captions, images=images[:2], top_k=1, query="images")
    assert list(indices[:, 0]) == [0, 1]


def test_learned_temperature_trains_and_is_clipped(pairs, tokenizer):
    images, captions = pairs
    clip = make_clip(tokenizer, initial_temperature=0.5, max_logit_scale=3.0)
    clip.compile(optimizer=keras.optimizers.SGD(50.0))
    history = clip.fit(images, captions, batch_size=8, epochs=3, verbose=0)
    assert history.history["logit_scale"][0] >= 2.0
    assert float(clip.current_logit_scale()) <= 3.0 + 1e-5
    assert float(keras.ops.exp(clip.logit_scale)) <= 3.0 + 1e-4


def test_info_nce_takes_a_learned_temperature():
    z = tf.constant(np.random.default_rng(0).normal(size=(4, 8)), "float32")
    scale = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        loss, _ = info_nce(z, z, temperature=1.0 / scale, gather_across_replicas=False)
        loss = tf.reduce_mean(loss)
    assert float(tape.gradient(loss, scale)) < 0  # matching pairs: a sharper softmax helps
    with pytest.raises(ValueError, match="temperature"):
        info_nce(z, z, temperature=0.0)


def test_dataset_and_dict_inputs(pairs, tokenizer):
    images, captions = pairs
    clip = make_clip(tokenizer, augmenter=None)  # the default random crop
    assert isinstance(clip.augmenter, keras_ssl.layers.RandomResizedCrop)
    clip.compile(optimizer="auto")
    dataset = tf.data.Dataset.from_tensor_slices((images, captions)).batch(4)
    assert np.isfinite(clip.fit(dataset, epochs=1, verbose=0).history["loss"][-1])
    history = clip.fit({"images": images, "texts": list(captions)}, batch_size=4, epochs=1,
                       verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    image_z, text_z = clip((images[:2], captions[:2]))
    assert image_z.shape == text_z.shape == (2, 16)


def test_caption_augmentation_trains_and_round_trips(pairs, tokenizer, tmp_path):
    images, captions = pairs
    seen = []

    class Recorder(keras_ssl.layers.RandomWordDeletion):
        def call(self, texts, training=True):
            seen.append(training)
            return super().call(texts, training=training)

    clip = make_clip(tokenizer, text_augmenter=keras_ssl.layers.RandomWordDeletion(0.5, seed=0))
    clip.compile(optimizer="auto")
    assert np.isfinite(clip.fit(images, captions, batch_size=4, verbose=0).history["loss"][-1])
    path = os.path.join(tmp_path, "augmented.keras")
    clip.save(path)
    revived = keras.saving.load_model(path)
    assert type(revived.text_augmenter) is keras_ssl.layers.RandomWordDeletion
    assert revived.text_augmenter.rate == 0.5
    # Only training steps augment captions: evaluation sees them as they are.
    clip.text_augmenter = Recorder(0.5, seed=0)
    clip.evaluate(images, captions, batch_size=4, verbose=0)
    assert seen == []
    clip.compile(optimizer="auto")
    clip.fit(images, captions, batch_size=4, verbose=0)
    assert seen and all(seen)


def test_bad_input_is_refused_before_training(pairs, tokenizer):
    images, captions = pairs
    clip = make_clip(tokenizer)
    clip.compile(optimizer="auto")
    before = [v.numpy().copy() for v in clip.trainable_variables]
    with pytest.raises(ValueError, match="8 images and 7 captions"):
        clip.fit(images, captions[:7], batch_size=4, verbose=0)
    with pytest.raises(ValueError, match=r"empty \(indices \[2\]\)"):
        clip.fit(images, np.where(np.arange(8) == 2, " ", captions), batch_size=4, verbose=0)
    with pytest.raises(ValueError, match=r"shape \(8, 8, 3\).*takes \(16, 16, 3\)"):
        clip.fit(images[:, :8, :8], captions, batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="pass the captions as `y`"):
        clip.fit(images, batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="at least 2 image-caption pairs"):
        clip.fit(images, captions, batch_size=1, verbose=0)
    with pytest.raises(TypeError, match="captions"):
        clip.fit(images, np.arange(8), batch_size=4, verbose=0)
    for after, b in zip(clip.trainable_variables, before):
        assert np.array_equal(after.numpy(), b)
    with pytest.raises(ValueError, match="templates"):
        clip.zero_shot_classify(images, ["a"], templates=("no slot",))
    with pytest.raises(ValueError, match="class_names"):
        clip.zero_shot_classify(images, [])
    with pytest.raises(ValueError, match="top_k"):
        clip.retrieve(text=["a"], images=images, top_k=0)
    with pytest.raises(ValueError, match="query"):
        clip.retrieve(text=["a"], images=images, query="audio")
    with pytest.raises(ValueError, match="image_encoder"):
        keras_ssl.methods.CLIP(keras_ssl.backbones.TemporalConvNet(input_channels=1),
                               clip.backbone, tokenizer)
    with pytest.raises(ValueError, match="max_logit_scale"):
        make_clip(tokenizer, initial_temperature=0.001)


def test_recall_at_k():
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(6, 4))
    queries = gallery[[2, 0, 5]] + 0.01
    recall = keras_ssl.evaluation.recall_at_k(queries, gallery, [2, 0, 5], ks=(1, 6))
    assert recall == {"recall@1": 1.0, "recall@6": 1.0}
    wrong = keras_ssl.evaluation.recall_at_k(queries, gallery, [1, 2, 3], ks=1)
    assert wrong == {"recall@1": 0.0}
    relevant = np.zeros((3, 6), bool)
    relevant[0, [1, 2]] = True
    several = keras_ssl.evaluation.recall_at_k(queries, gallery, relevant, ks=(1,))
    assert several["recall@1"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="same embedding size"):
        keras_ssl.evaluation.recall_at_k(queries, gallery[:, :3], [0, 0, 0])
    with pytest.raises(ValueError, match="gallery indices"):
        keras_ssl.evaluation.recall_at_k(queries, gallery, [0, 0, 6])
    with pytest.raises(ValueError, match="ks"):
        keras_ssl.evaluation.recall_at_k(queries, gallery, [0, 0, 0], ks=(0,))


def test_keras_round_trip_and_export(trained, pairs, tmp_path):
    clip, _ = trained
    images, captions = pairs
    path = os.path.join(tmp_path, "clip.keras")
    clip.save(path)
    revived = keras.saving.load_model(path)
    assert type(revived) is keras_ssl.methods.CLIP
    assert_all_close(revived.encode_images(images), clip.encode_images(images), atol=1e-5)
    assert_all_close(revived.encode_texts(captions), clip.encode_texts(captions), atol=1e-5)
    assert revived.get_config()["embedding_dim"] == 16

    out = keras_ssl.export.export_clip(clip, os.path.join(tmp_path, "served"))
    np.save(os.path.join(tmp_path, "images.npy"), images)
    # A fresh process that knows nothing of keras_ssl serves both towers
    # (TensorFlow Text registers the tokenizer's ops).
    script = (
        "import json, sys, numpy as np, tensorflow as tf, tensorflow_text\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "x = np.load(sys.argv[2])\n"
        "i = m.signatures['images_uint8'](images=tf.constant(x))['embeddings'].numpy()\n"
        "f = m.signatures['serving_default'](images=tf.constant(x, 'float32'))['embeddings']\n"
        "t = m.signatures['texts'](texts=tf.constant(json.loads(sys.argv[3])))['embeddings']\n"
        "print(json.dumps({'i': i.tolist(), 'f': f.numpy().tolist(), 't': t.numpy().tolist(),"
        " 'names': sorted(m.signatures)}))\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", script, out, os.path.join(tmp_path, "images.npy"),
         json.dumps(list(captions))],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    assert served["names"] == ["images", "images_uint8", "serving_default", "texts"]
    assert_all_close(np.array(served["i"]), clip.encode_images(images), atol=1e-4)
    assert_all_close(np.array(served["f"]), clip.encode_images(images), atol=1e-4)
    assert_all_close(np.array(served["t"]), clip.encode_texts(captions), atol=1e-4)
    with open(os.path.join(out, "keras_ssl", "metadata.json")) as f:
        metadata = json.load(f)
    assert metadata["format"] == "keras_ssl.clip"
    assert metadata["logit_scale"] == pytest.approx(float(clip.current_logit_scale()))
    with pytest.raises(TypeError, match="CLIP"):
        keras_ssl.export.export_clip(clip.image_encoder, os.path.join(tmp_path, "x"))
    # The image tower exports as a backbone like any encoder.
    encoder = keras_ssl.export.export_backbone(clip, os.path.join(tmp_path, "encoder"))
    assert keras_ssl.export.read_metadata(encoder)["feature_dim"] == clip.feature_dim
