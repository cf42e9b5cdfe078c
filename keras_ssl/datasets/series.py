"""Time series: the UCR/UEA classification archive, read from its `.ts` files.

`load_series(name)` returns zero-padded float32 arrays (N, T, C) with the
true length of each series kept (`return_lengths=True`, or
`series_lengths(x)`), so variable-length sets (JapaneseVowels: 7 to 29
steps) are masked downstream, never truncated.

The `.ts` reader is written here (a few dozen lines) rather than taken from
`aeon` or `sktime`: those toolkits pull in numba and much more, a heavy
runtime requirement for one file format. `aeon`'s wheel is used, when
installed, only as a local copy of several archive sets (install it
without its dependencies: `pip install --no-deps aeon`).
"""

import importlib.util
import os
import shutil
import tempfile
import urllib.request
import zipfile

import numpy as np

# The archive's download address: one zip per data set, holding
# `<name>_TRAIN.ts` and `<name>_TEST.ts`.
ARCHIVE_URL = "https://www.timeseriesclassification.com/aeon-toolkit/{name}.zip"

# Archive sets a download may fetch (the UEA multivariate sets and the
# common UCR univariate ones); sets found in a local folder are known too.
ARCHIVE_NAMES = (
    "ACSF1", "ArrowHead", "ArticularyWordRecognition", "AtrialFibrillation", "BasicMotions",
    "Beef", "CBF", "Coffee", "CharacterTrajectories", "Cricket", "ECG200", "ECG5000",
    "ECGFiveDays", "Epilepsy", "EthanolConcentration", "FaceDetection", "FacesUCR",
    "FingerMovements", "FordA", "FordB", "GunPoint", "HandMovementDirection", "Handwriting",
    "Heartbeat", "ItalyPowerDemand", "JapaneseVowels", "Libras", "LSST", "MotorImagery",
    "NATOPS", "OSULeaf", "PEMS-SF", "PenDigits", "PhonemeSpectra", "PickupGestureWiimoteZ",
    "RacketSports", "SelfRegulationSCP1", "SelfRegulationSCP2", "SpokenArabicDigits",
    "StandWalkJump", "StarLightCurves", "SyntheticControl", "TwoPatterns", "UWaveGestureLibrary",
    "Wafer", "Yoga",
)

AEON_INSTALL = "pip install --no-deps aeon"


def _aeon_data_folder():
    """`aeon/datasets/data` of an installed aeon wheel, found without
    importing aeon (its dependencies need not be installed)."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data")
    return folder if os.path.isdir(folder) else None


def _cache_folder():
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return os.path.join(keras_home, "datasets", "timeseries")


def _roots(data_dir):
    """(description, folder) pairs searched for `<name>/<name>_TRAIN.ts`."""
    roots = []
    if data_dir:
        roots.append(("data_dir argument", data_dir))
    if os.environ.get("KERAS_SSL_DATA_DIR"):
        roots.append(("KERAS_SSL_DATA_DIR", os.environ["KERAS_SSL_DATA_DIR"]))
    aeon = _aeon_data_folder()
    if aeon:
        roots.append(("aeon package data", aeon))
    roots.append(("Keras cache", _cache_folder()))
    return roots


def _split_files(folder, name):
    """The TRAIN and TEST `.ts` files of `name` in `folder` (or in
    `folder/name`), or None."""
    for base in (os.path.join(folder, name), folder):
        train = os.path.join(base, f"{name}_TRAIN.ts")
        test = os.path.join(base, f"{name}_TEST.ts")
        if os.path.isfile(train) and os.path.isfile(test):
            return train, test
    return None


def local_series(data_dir=None):
    """Names of the archive sets found in local folders (see `load_series`)."""
    names = set()
    for _, root in _roots(data_dir):
        if not os.path.isdir(root):
            continue
        for entry in os.listdir(root):
            if _split_files(root, entry):
                names.add(entry)
    return sorted(names)


def available_series(data_dir=None):
    """Every name `load_series` accepts: local sets and downloadable ones."""
    return sorted(set(local_series(data_dir)) | set(ARCHIVE_NAMES))


def _parse_value(text):
    return np.nan if text in ("?", "NaN", "nan") else float(text)


def read_ts(path):
    """Read one `.ts` file of the UCR/UEA archive.

    Handles univariate and multivariate files (dimensions separated by
    `:`), equal and unequal lengths, and missing values (`?`, read as
    NaN). Files with `@timeStamps true` are not supported.

    Returns:
        `(series, labels, header)`: a list of float32 arrays of shape
        (T_i, C), a list of label strings, and the header as a dict
        (`problemname`, `classlabel`: the declared class labels in order,
        ...).
    """
    header, series, labels = {}, [], []
    in_data = False
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if not line.startswith("@"):
                    raise ValueError(f"{path}, line {number}: expected a @-header line, got {line[:40]!r}.")
                key, _, value = line[1:].partition(" ")
                key = key.lower()
                if key == "data":
                    in_data = True
                elif key == "classlabel":
                    words = value.split()
                    header["classlabel"] = words[1:] if words and words[0].lower() == "true" else None
                else:
                    header[key] = value.strip()
                continue
            if header.get("timestamps", "false").lower() == "true":
                raise ValueError(f"{path}: `.ts` files with time stamps are not supported.")
            parts = line.split(":")
            has_label = header.get("classlabel") is not None
            if has_label:
                labels.append(parts[-1].strip())
                parts = parts[:-1]
            channels = [[_parse_value(v) for v in part.split(",") if v != ""] for part in parts]
            length = max(len(c) for c in channels)
            values = np.full((length, len(channels)), np.nan, dtype="float32")
            for i, channel in enumerate(channels):
                values[: len(channel), i] = channel
            series.append(values)
    if not in_data:
        raise ValueError(f"{path} is not a `.ts` file of the time series archive: no @data line.")
    if not series:
        raise ValueError(f"{path} holds no series.")
    dims = {s.shape[1] for s in series}
    if len(dims) != 1:
        raise ValueError(f"{path}: series have different numbers of dimensions {sorted(dims)}.")
    return series, labels, header


def pad_series(series, length=None):
    """Stack a list of (T_i, C) arrays into zero-padded (N, T, C) float32
    (T = `length` or the longest series) and their lengths (N,)."""
    lengths = np.array([len(s) for s in series], dtype="int64")
    length = int(lengths.max()) if length is None else int(length)
    if lengths.max() > length:
        raise ValueError(f"`length` {length} is shorter than the longest series ({lengths.max()}).")
    out = np.zeros((len(series), length, series[0].shape[1]), dtype="float32")
    for i, s in enumerate(series):
        out[i, : len(s)] = s
    return out, lengths


def series_lengths(x):
    """Lengths of zero-padded series (N, T, C): the last step where any
    channel is non-zero, plus one (what `backbones.TemporalConvNet` masks
    by). A series that truly ends in exact zeros is counted shorter."""
    x = np.asarray(x)
    nonzero = np.any(np.nan_to_num(x, nan=1.0) != 0, axis=-1)
    steps = np.arange(1, x.shape[1] + 1)
    return (nonzero * steps).max(axis=1).astype("int64")


def check_series(x, name="x"):
    """Raise a clear error unless `x` is a float array (N, T, C) without
    NaN or infinite values (naming the first bad sample and step)."""
    shape = getattr(x, "shape", None)
    if shape is None:
        raise TypeError(f"`{name}` must be an array of shape (series, steps, channels), got "
                        f"{type(x).__name__}.")
    if len(shape) != 3:
        hint = (" For univariate series of shape (N, T), add a channel axis: x[..., None]."
                if len(shape) == 2 else "")
        raise ValueError(f"`{name}` must have rank 3 (series, steps, channels), got shape "
                         f"{tuple(shape)}.{hint}")
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"`{name}` must hold numbers, got dtype {x.dtype}.")
    if len(x) == 0:
        raise ValueError(f"`{name}` is empty: no series.")
    bad = ~np.isfinite(x)
    if bad.any():
        sample, step, channel = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"`{name}` holds {int(bad.sum())} NaN or infinite values (first: series {sample}, "
            f"step {step}, channel {channel}). Fill them first, e.g. "
            "keras_ssl.datasets.fill_missing(x, lengths)."
        )


def fill_missing(x, lengths=None):
    """Fill NaNs of (N, T, C) series by linear interpolation along time
    (nearest value at the ends), within each series' length; a channel
    with no value at all becomes zeros. Returns a new array."""
    x = np.array(x, dtype="float32", copy=True)
    if lengths is None:
        lengths = series_lengths(x)
    for i, length in enumerate(lengths):
        for c in range(x.shape[2]):
            values = x[i, :length, c]
            missing = np.isnan(values)
            if not missing.any():
                continue
            if missing.all():
                values[:] = 0.0
                continue
            steps = np.arange(length)
            values[missing] = np.interp(steps[missing], steps[~missing], values[~missing])
    return x


def _download(name, folder):
    """Fetch the archive's zip of `name` and unpack its `.ts` files into
    `folder/name` (atomically: a failed download leaves nothing)."""
    url = ARCHIVE_URL.format(name=name)
    os.makedirs(folder, exist_ok=True)
    scratch = tempfile.mkdtemp(dir=folder, prefix=f".{name}-")
    try:
        archive = os.path.join(scratch, f"{name}.zip")
        urllib.request.urlretrieve(url, archive)
        target = os.path.join(scratch, name)
        os.makedirs(target)
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                base = os.path.basename(member)
                if base in (f"{name}_TRAIN.ts", f"{name}_TEST.ts"):
                    with z.open(member) as src, open(os.path.join(target, base), "wb") as dst:
                        shutil.copyfileobj(src, dst)
        if not _split_files(target, name):
            raise ValueError(f"The archive at {url} holds no {name}_TRAIN.ts and {name}_TEST.ts.")
        final = os.path.join(folder, name)
        if not os.path.exists(final):
            os.replace(target, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return _split_files(os.path.join(folder, name), name)


def _find_files(name, data_dir, download):
    searched = []
    for label, root in _roots(data_dir):
        files = _split_files(root, name)
        if files:
            return files, label
        searched.append(f"{label}: {root}")
    known = available_series(data_dir)
    if name not in known:
        raise ValueError(f"Unknown series data set {name!r}. Known: {', '.join(known)}.")
    if download:
        try:
            return _download(name, _cache_folder()), "download"
        except Exception as error:  # network down, a host not reachable, a bad archive
            searched.append(f"download from {ARCHIVE_URL.format(name=name)} failed: {error}")
    raise FileNotFoundError(
        f"No local copy of the series data set {name!r}. Searched:\n  " + "\n  ".join(searched)
        + f"\nInstall aeon's data without its dependencies (`{AEON_INSTALL}`; it ships "
        "JapaneseVowels, GunPoint, ArrowHead, BasicMotions, ...) or put "
        f"{name}_TRAIN.ts and {name}_TEST.ts in a folder passed as `data_dir`."
    )


def series_info(name, data_dir=None, download=True):
    """What `load_series(name)` loads: class names, channels, lengths, source."""
    (_, y, lengths), (_, y_test, lengths_test), info = _load(name, data_dir, download)
    return dict(info, num_train=len(y), num_test=len(y_test),
                min_length=int(min(lengths.min(), lengths_test.min())),
                max_length=int(max(lengths.max(), lengths_test.max())))


_CACHE = {}


def _load(name, data_dir, download):
    if not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be the name of an archive data set, got {name!r}.")
    (train_file, test_file), source = _find_files(name, data_dir, download)
    key = (train_file, test_file)
    if key not in _CACHE:
        train, train_labels, header = read_ts(train_file)
        test, test_labels, _ = read_ts(test_file)
        if not train_labels or not test_labels:
            raise ValueError(f"{name}: the archive files hold no class labels.")
        classes = header.get("classlabel") or sorted(set(train_labels) | set(test_labels))
        unknown = sorted(set(train_labels + test_labels) - set(classes))
        if unknown:
            raise ValueError(f"{name}: labels {unknown} are not among the declared classes {classes}.")
        index = {label: i for i, label in enumerate(classes)}
        length = max(max(len(s) for s in train), max(len(s) for s in test))
        x, lengths = pad_series(train, length)
        x_test, lengths_test = pad_series(test, length)
        y = np.array([index[v] for v in train_labels], dtype="int64")
        y_test = np.array([index[v] for v in test_labels], dtype="int64")
        info = {"name": header.get("problemname", name), "class_names": list(classes),
                "channels": int(x.shape[2]), "source": source, "train_file": train_file,
                "missing_values": bool(np.isnan(x).any() or np.isnan(x_test).any())}
        _CACHE[key] = ((x, y, lengths), (x_test, y_test, lengths_test), info)
    (x, y, lengths), (x_test, y_test, lengths_test), info = _CACHE[key]
    return ((x.copy(), y.copy(), lengths.copy()),
            (x_test.copy(), y_test.copy(), lengths_test.copy()), dict(info))


def load_series(name, data_dir=None, download=True, return_lengths=False):
    """Load a classification set of the UCR/UEA time series archive.

    Local copies are looked for first, as `<name>_TRAIN.ts` and
    `<name>_TEST.ts` in a folder `<root>/<name>/` (or in `<root>` itself),
    for these roots in order: `data_dir`; the `KERAS_SSL_DATA_DIR`
    environment variable; the sets that the `aeon` wheel ships
    (`pip install --no-deps aeon`: JapaneseVowels, GunPoint, ArrowHead,
    BasicMotions, ItalyPowerDemand, OSULeaf, ACSF1,
    PickupGestureWiimoteZ); the Keras cache
    (`~/.keras/datasets/timeseries`). Only then, with `download=True`, the
    archive's zip is downloaded into the cache.

    Series are zero-padded at the end to the longest series of both
    splits; missing values (`?` in the files) are NaN (see
    `fill_missing`). Labels are int64 in the order of the file's declared
    classes (`series_info(name)["class_names"]`).

    Returns:
        `((x_train, y_train), (x_test, y_test))` with x float32 of shape
        (N, T, C); with `return_lengths=True`, each split is
        `(x, y, lengths)`.

    Example:

    >>> (x, y), (x_test, y_test) = load_series("JapaneseVowels")  # doctest: +SKIP
    >>> x.shape, y.max() + 1                                       # doctest: +SKIP
    ((270, 29, 12), 9)
    """
    train, test, _ = _load(name, data_dir, download)
    if return_lengths:
        return train, test
    return train[:2], test[:2]
