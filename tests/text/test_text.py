import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ssl

SENTENCES = [
    "the cat sat on the mat", "the dog sat on the log", "a cat and a dog ran",
    "the bird sang in the tree", "a fish swam in the sea", "the sun rose over the hill",
    "the cat chased the bird", "the dog chased the cat", "a bird flew over the sea",
    "the fish ate the worm", "the moon shone on the sea", "a dog slept on the mat",
] * 3


@pytest.fixture(scope="module")
def tokenizer():
    return keras_ssl.text.train_wordpiece(SENTENCES, vocabulary_size=120)


def tiny_mlm(tokenizer, length=16):
    bert = keras_ssl.backbones.BertTiny(tokenizer.vocabulary_size(), max_sequence_length=32,
                                        hidden_dim=32, intermediate_dim=64, num_heads=2,
                                        dropout=0.0)
    return keras_ssl.methods.MaskedLanguageModel(bert, tokenizer, sequence_length=length)


def test_load_text_sources(tmp_path):
    (tmp_path / "a.txt").write_text("first line\n\nsecond para line one\nline two\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "b.txt").write_text("third\n")
    lines = [t.decode() for t in keras_ssl.datasets.load_text(str(tmp_path)).as_numpy_iterator()]
    assert lines == ["first line", "second para line one", "line two", "third"]
    paras = keras_ssl.datasets.read_texts(str(tmp_path / "a.txt"), split="paragraph")
    assert paras == ["first line", "second para line one line two"]
    assert keras_ssl.datasets.read_texts(["a  b", "", "c"]) == ["a b", "c"]
    with pytest.raises(ValueError, match="empty"):
        keras_ssl.datasets.load_text(["", " "])
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(ValueError, match="empty"):
        keras_ssl.datasets.load_text(str(tmp_path / "empty.txt"))
    with pytest.raises(FileNotFoundError):
        keras_ssl.datasets.load_text(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="imdb"):
        keras_ssl.datasets.load_text("tfds:imdb_reviews", data_dir=str(tmp_path), download=False)


def test_default_corpus_is_shakespeare():
    texts = keras_ssl.datasets.read_texts(min_length=20)
    assert len(texts) > 50000
    assert any("To be, or not to be" in t for t in texts)


def test_train_wordpiece(tokenizer, tmp_path):
    assert tokenizer.id_to_token(0) == "[PAD]"
    for token in ("[CLS]", "[SEP]", "[MASK]", "[UNK]"):
        assert tokenizer.token_to_id(token) is not None
    ids = np.asarray(tokenizer("The CAT sat")).tolist()
    assert tokenizer.detokenize(ids) == "the cat sat"
    path = keras_ssl.text.save_vocabulary(tokenizer, str(tmp_path / "vocab.txt"))
    again = keras_ssl.text.load_tokenizer(path)
    assert np.asarray(again("the cat sat")).tolist() == ids
    with pytest.raises(ValueError, match="special tokens"):
        keras_ssl.text.train_wordpiece(SENTENCES, vocabulary_size=5)
    with pytest.raises(ValueError, match="empty"):
        keras_ssl.text.train_wordpiece([], vocabulary_size=100)


def test_mask_statistics(tokenizer):
    """Over many draws: 15% of non-special tokens selected; 80/10/10."""
    mlm = tiny_mlm(tokenizer, length=32)
    token_ids, _ = mlm.pack(tf.constant(SENTENCES * 20))
    special = list(mlm.special_token_ids.values())
    selected = replaced_mask = kept = candidates = 0
    for _ in range(5):
        out = mlm.masker(token_ids)
        positions = out["mask_positions"].numpy()
        weights = out["mask_weights"].numpy()
        original = token_ids.numpy()
        masked_ids = out["token_ids"].numpy()
        for row in range(len(original)):
            picks = positions[row][weights[row] > 0]
            assert not np.isin(original[row][picks], special).any()
            selected += len(picks)
            replaced_mask += int((masked_ids[row][picks] == mlm.special_token_ids["[MASK]"]).sum())
            kept += int((masked_ids[row][picks] == original[row][picks]).sum())
            candidates += int((~np.isin(original[row], special)).sum())
        unselected = np.ones_like(original, bool)
        for row in range(len(original)):
            unselected[row, positions[row][weights[row] > 0]] = False
        np.testing.assert_array_equal(masked_ids[unselected], original[unselected])
    assert abs(selected / candidates - 0.15) < 0.02
    assert abs(replaced_mask / selected - 0.8) < 0.04
    random_or_kept = 1 - replaced_mask / selected
    assert abs(random_or_kept - 0.2) < 0.04
    assert 0.06 < kept / selected < 0.16  # 10% unchanged, plus random draws of the same id


def test_mlm_loss_falls_and_save_load(tokenizer, tmp_path):
    mlm = tiny_mlm(tokenizer)
    mlm.compile(optimizer=keras.optimizers.AdamW(3e-3))
    ds = tf.data.Dataset.from_tensor_slices(SENTENCES).batch(12)
    history = mlm.fit(ds, epochs=12, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.3
    assert set(history.history) == {"loss", "masked_accuracy", "perplexity"}
    assert history.history["perplexity"][-1] == pytest.approx(np.exp(losses[-1]), rel=1e-4)
    x = tf.constant(SENTENCES[:4])
    expected = mlm(x).numpy()
    path = str(tmp_path / "mlm.keras")
    mlm.save(path)
    revived = keras.saving.load_model(path)
    np.testing.assert_allclose(revived(x).numpy(), expected, atol=1e-5)
    assert revived.tokenizer.get_vocabulary() == tokenizer.get_vocabulary()


def test_mlm_accepts_token_ids(tokenizer):
    mlm = tiny_mlm(tokenizer)
    mlm.compile(optimizer="auto")
    ids = tf.ragged.constant(tokenizer(tf.constant(SENTENCES[:8])))
    history = mlm.fit(tf.data.Dataset.from_tensor_slices(ids).batch(4), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_mlm_errors(tokenizer):
    bert = keras_ssl.backbones.BertTiny(tokenizer.vocabulary_size(), max_sequence_length=16,
                                        hidden_dim=16, intermediate_dim=16)
    with pytest.raises(ValueError, match="max_sequence_length"):
        keras_ssl.methods.MaskedLanguageModel(bert, tokenizer, sequence_length=64)
    with pytest.raises(ValueError, match="mask_rate"):
        keras_ssl.methods.MaskedLanguageModel(bert, tokenizer, sequence_length=16, mask_rate=1.5)
    other = keras_ssl.backbones.BertTiny(50, max_sequence_length=16)
    with pytest.raises(ValueError, match="vocabulary"):
        keras_ssl.methods.MaskedLanguageModel(other, tokenizer, sequence_length=16)


def test_export_text_encoder(tokenizer, tmp_path):
    mlm = tiny_mlm(tokenizer)
    path = keras_ssl.export.export_text_encoder(mlm, str(tmp_path / "text"))
    loaded = tf.saved_model.load(path)
    serve = loaded.signatures["serving_default"]
    spec = serve.structured_input_signature[1]["texts"]
    assert spec.dtype == tf.string
    out = serve(tf.constant(SENTENCES[:3]))
    np.testing.assert_allclose(out["pooled_output"].numpy(), mlm(tf.constant(SENTENCES[:3])).numpy(),
                               atol=1e-5)
    assert out["sequence_output"].shape == (3, 16, 32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="string"):
        serve(tf.constant([1, 2, 3]))
    cli = shutil.which("saved_model_cli")
    cmd = [cli] if cli else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    shown = subprocess.run(cmd + ["show", "--dir", path, "--tag_set", "serve",
                                  "--signature_def", "serving_default"],
                           capture_output=True, text=True, check=True).stdout
    assert "DT_STRING" in shown and "pooled_output" in shown
    assert os.path.exists(os.path.join(path, "keras_ssl", "model.keras"))


def test_text_classifier_fits_on_strings(tokenizer):
    mlm = tiny_mlm(tokenizer)
    labels = np.array([("cat" in s) for s in SENTENCES], dtype="int64")
    clf = keras_ssl.evaluation.text_classifier(mlm, num_classes=2, learning_rate=3e-3)
    before = [w.numpy().copy() for w in mlm.backbone.weights]
    history = clf.fit(np.array(SENTENCES, dtype=object), labels, epochs=3, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert clf.predict(tf.constant(SENTENCES[:2]), verbose=0).shape == (2, 2)
    for a, b in zip(before, mlm.backbone.weights):
        np.testing.assert_array_equal(a, b.numpy())
    probe = keras_ssl.evaluation.text_probe(mlm, num_classes=2)
    assert all(not w.trainable for w in probe.get_layer(index=-3).weights) or \
        len(probe.trainable_weights) == 2
    with pytest.raises(ValueError, match="num_classes"):
        keras_ssl.evaluation.text_classifier(mlm, num_classes=1)
