"""Small series for tests: learnable structure, variable lengths, `.ts` files."""

import os

import numpy as np


def structured_series(n=16, steps=24, channels=2, seed=0, variable=False):
    """Noisy sinusoids of random frequency and phase, zero-padded when
    `variable` (lengths between steps // 2 and steps). Returns (x, lengths)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, steps, channels), "float32")
    lengths = rng.integers(steps // 2, steps + 1, size=n) if variable else np.full(n, steps)
    t = np.arange(steps)
    for i in range(n):
        frequency = rng.uniform(0.1, 0.5)
        for c in range(channels):
            phase = rng.uniform(0, 2 * np.pi)
            wave = np.sin(frequency * t + phase) + 0.05 * rng.normal(size=steps)
            x[i, : lengths[i], c] = wave[: lengths[i]]
    return x, lengths.astype("int64")


def write_ts(path, series, labels, name="Toy", class_labels=None, missing=False):
    """Write series (list of (T_i, C) arrays) in the archive's `.ts` format."""
    channels = series[0].shape[1]
    equal = len({len(s) for s in series}) == 1
    class_labels = class_labels or sorted(set(labels))
    lines = [
        "# a toy archive file",
        f"@problemName {name}",
        "@timeStamps false",
        f"@missing {'true' if missing else 'false'}",
        f"@univariate {'true' if channels == 1 else 'false'}",
        f"@dimensions {channels}",
        f"@equalLength {'true' if equal else 'false'}",
        "@classLabel true " + " ".join(class_labels),
        "@data",
    ]
    for s, label in zip(series, labels):
        dims = [",".join("?" if np.isnan(v) else f"{v:.6g}" for v in s[:, c])
                for c in range(channels)]
        lines.append(":".join(dims) + f":{label}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_toy_set(root, name="Toy", n_train=20, n_test=10, steps=16, channels=2,
                  variable=True, missing=False, seed=0):
    """A `.ts` train/test pair under root/name; returns the arrays written."""
    written = {}
    for split, n, offset in (("TRAIN", n_train, 0), ("TEST", n_test, 100)):
        x, lengths = structured_series(n, steps, channels, seed=seed + offset, variable=variable)
        labels = [("up", "down")[i % 2] for i in range(n)]
        series = [x[i, : lengths[i]].copy() for i in range(n)]
        if missing and split == "TRAIN":
            series[1][2, 0] = np.nan
        write_ts(os.path.join(root, name, f"{name}_{split}.ts"), series, labels, name=name,
                 class_labels=["up", "down"], missing=missing)
        written[split] = (series, labels)
    return written
