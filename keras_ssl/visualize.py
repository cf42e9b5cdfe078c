"""Plots a person would rather look at than read.

Every function returns a matplotlib Figure and saves it as PNG when `path`
is given. The backend is matplotlib's choice: inline in a notebook, and
its non-interactive "Agg" on a machine without a display, so the plots
work in scripts and on servers too.
"""

import json
import os

import matplotlib.pyplot as plt
import numpy as np


def _save(fig, path):
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
    return fig


def _history_dict(source):
    if isinstance(source, dict):
        return source
    if hasattr(source, "history"):
        return source.history
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            path = os.path.join(path, "history.json")
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"`history` {source!r} has no history.json (a dict metric -> "
                "per-epoch list, as keras-ssl runs write)."
            )
        with open(path) as f:
            return json.load(f)
    raise TypeError(
        "`history` must be a keras History, a dict of lists or a run folder, "
        f"got {type(source).__name__}."
    )


def plot_history(history, path=None, metrics=None):
    """Loss and metric curves per epoch.

    Args:
        history: a keras `History`, a dict metric -> list, or a run folder
            (or file) holding `history.json` in that format.
        metrics: names to plot; default every metric except timestamps.
    """
    data = _history_dict(history)
    names = metrics or [k for k in data if not k.endswith("_time")]
    if not names:
        raise ValueError("`history` holds no metrics to plot.")
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        values = data[name]
        ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_embeddings(features, labels, path=None, method="pca", class_names=None,
                    max_points=3000, seed=0, title=None):
    """2-D projection (PCA or t-SNE) of embeddings, coloured by label."""
    features = np.asarray(features, dtype="float32")
    labels = np.asarray(labels)
    if features.ndim != 2 or len(features) != len(labels):
        raise ValueError(
            f"`features` must be (N, D) with N == len(labels); got {features.shape} "
            f"and {labels.shape}."
        )
    if method not in ("pca", "tsne"):
        raise ValueError(f"`method` must be 'pca' or 'tsne', got {method!r}.")
    rng = np.random.default_rng(seed)
    if len(features) > max_points:
        keep = rng.choice(len(features), max_points, replace=False)
        features, labels = features[keep], labels[keep]
    if method == "pca":
        from sklearn.decomposition import PCA

        points = PCA(n_components=2, random_state=seed).fit_transform(features)
    else:
        from sklearn.manifold import TSNE

        points = TSNE(n_components=2, random_state=seed, init="pca",
                      perplexity=min(30, max(2, len(features) // 4))).fit_transform(features)
    fig, ax = plt.subplots(figsize=(6, 5))
    scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=6, alpha=0.8)
    classes = np.unique(labels)
    handles = [
        plt.Line2D([], [], marker="o", linestyle="", color=scatter.cmap(scatter.norm(c)),
                   label=(class_names[int(c)] if class_names else str(c)))
        for c in classes
    ]
    ax.legend(handles=handles, fontsize=7, loc="best", markerscale=1.2)
    ax.set_title(title or f"Embeddings ({method.upper()})")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return _save(fig, path)


def _show(ax, image):
    image = np.asarray(image, dtype="float32")
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(np.clip(image, 0, 255).astype("uint8"))
    ax.set_xticks([])
    ax.set_yticks([])


def plot_reconstructions(images, masked, reconstructed, path=None, max_images=8):
    """Grid: originals, masked inputs and reconstructions (rows)."""
    rows = [("original", images), ("masked", masked), ("reconstructed", reconstructed)]
    n = min(max_images, len(images))
    fig, axes = plt.subplots(3, n, figsize=(1.3 * n, 4.2), squeeze=False)
    for r, (name, batch) in enumerate(rows):
        for c in range(n):
            _show(axes[r][c], batch[c])
        axes[r][0].set_ylabel(name, fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_tokens(images, token_ids, decoded, path=None, max_images=8):
    """Grid: images, their visual-token maps (one colour per token id, the
    id written in each patch when the grid is small) and the images decoded
    from the tokens alone: what a `VQTokenizer` keeps of each image."""
    token_ids = np.asarray(token_ids)
    n = min(max_images, len(images))
    fig, axes = plt.subplots(3, n, figsize=(1.3 * n, 4.2), squeeze=False)
    for c in range(n):
        _show(axes[0][c], images[c])
        axes[1][c].imshow(token_ids[c], cmap="tab20", interpolation="nearest")
        axes[1][c].set_xticks([])
        axes[1][c].set_yticks([])
        if token_ids[c].size <= 64:
            for (i, j), value in np.ndenumerate(token_ids[c]):
                axes[1][c].text(j, i, str(value), ha="center", va="center", fontsize=4)
        _show(axes[2][c], decoded[c])
    for r, name in enumerate(("image", "token ids", "decoded")):
        axes[r][0].set_ylabel(name, fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _show_text(ax, text, width=22):
    import textwrap

    ax.text(0.5, 0.5, textwrap.fill(str(text), width), ha="center", va="center",
            fontsize=7, wrap=True, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def plot_retrieval(encoder_or_features, query_images, gallery_images, k=5, path=None,
                   gallery_labels=None, query_labels=None, relevant=None):
    """Each query beside its `k` nearest gallery images (cosine).

    `encoder_or_features` is an encoder, or a pair (query_features,
    gallery_features) already computed. Queries are images, or strings
    (captions searching images, e.g. with CLIP's embeddings as the pair):
    a string query is written in the first column. `relevant` (one gallery
    index a query) frames the right answer in green where it is retrieved.
    """
    if isinstance(encoder_or_features, (tuple, list)):
        q, g = (np.asarray(a, dtype="float32") for a in encoder_or_features)
    else:
        q = np.asarray(encoder_or_features.predict(query_images, verbose=0))
        g = np.asarray(encoder_or_features.predict(gallery_images, verbose=0))
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    nearest = np.argsort(-(q @ g.T), axis=1)[:, :k]
    text_queries = np.asarray(query_images).dtype.kind in "USO"
    fig, axes = plt.subplots(len(q), k + 1, figsize=(1.3 * (k + 1), 1.4 * len(q)), squeeze=False)
    for i in range(len(q)):
        if text_queries:
            _show_text(axes[i][0], query_images[i])
        else:
            _show(axes[i][0], query_images[i])
            axes[i][0].set_title("query" if query_labels is None else f"query: {query_labels[i]}",
                                 fontsize=7)
        for j, idx in enumerate(nearest[i]):
            _show(axes[i][j + 1], gallery_images[idx])
            if gallery_labels is not None:
                axes[i][j + 1].set_title(str(gallery_labels[idx]), fontsize=7)
            if relevant is not None and idx == relevant[i]:
                for spine in axes[i][j + 1].spines.values():
                    spine.set_edgecolor("tab:green")
                    spine.set_linewidth(2.5)
    fig.tight_layout()
    return _save(fig, path)


def plot_comparison(results, path=None, title=None, ylabel="accuracy", baselines=None):
    """Bar chart of named values, e.g. accuracy of several encoders.

    `baselines` (name -> value) are drawn as labelled dashed lines across
    the bars, and the value axis then starts just below the lowest value
    so that small differences stay visible.
    """
    if not results:
        raise ValueError("`results` is empty.")
    names = list(results)
    values = [float(results[n]) for n in names]
    baselines = {name: float(v) for name, v in (baselines or {}).items()}
    fig, ax = plt.subplots(figsize=(1.2 + 1.3 * len(names), 3.4))
    bars = ax.bar(range(len(names)), values, color=plt.cm.tab10(np.arange(len(names)) % 10))
    for bar, v in zip(bars, values):
        ax.text(bar.get_x() + bar.get_width() / 2, v, f"{v:.3f}", ha="center", va="bottom", fontsize=8)
    for i, (name, v) in enumerate(baselines.items()):
        ax.hlines(v, -0.6, len(names) - 0.45, color="0.3", linestyle=("--", ":", "-.")[i % 3],
                  linewidth=1)
        ax.text(len(names) - 0.45, v, f" {name} {v:.3f}", va="center", ha="left", fontsize=8)
    if baselines:
        everything = values + list(baselines.values())
        low, high = min(everything), max(everything)
        margin = 0.15 * (high - low) + 1e-3
        ax.set_ylim(low - margin, high + margin)
        ax.set_xlim(-0.6, len(names) + 1.2)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_paired_comparison(groups, path=None, title=None, ylabel="accuracy",
                           pair_labels=("pretrained", "random init")):
    """Paired bars in one panel a group: for each named entry, its value
    beside its baseline (e.g. a pretrained encoder and the same network
    randomly initialised), with the difference written above the pair.

    `groups` maps a panel title to {entry name: (value, baseline)}.
    """
    if not groups or not all(groups.values()):
        raise ValueError("`groups` must map names to non-empty {name: (value, baseline)} dicts.")
    widths = [len(entries) for entries in groups.values()]
    fig, axes = plt.subplots(1, len(groups), figsize=(1.6 + 1.5 * sum(widths), 3.6),
                             gridspec_kw={"width_ratios": widths}, squeeze=False)
    for ax, (group, entries) in zip(axes[0], groups.items()):
        names = list(entries)
        values = np.array([float(entries[n][0]) for n in names])
        bases = np.array([float(entries[n][1]) for n in names])
        x = np.arange(len(names))
        ax.bar(x - 0.2, values, 0.4, color="tab:blue", label=pair_labels[0])
        ax.bar(x + 0.2, bases, 0.4, color="0.75", hatch="//", edgecolor="0.45",
               label=pair_labels[1])
        for i, (v, b) in enumerate(zip(values, bases)):
            ax.text(i, max(v, b), f"{(v - b) * 100:+.1f}", ha="center", va="bottom", fontsize=8)
        low, high = min(values.min(), bases.min()), max(values.max(), bases.max())
        margin = 0.15 * (high - low) + 1e-3
        ax.set_ylim(max(0.0, low - 3 * margin), high + 2 * margin)
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
        ax.set_title(group, fontsize=9)
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].legend(fontsize=7, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)




def _robustness_rows(results, key, required):
    """{model: rows} for `key`, each row checked for the `required` keys."""
    found = {}
    for model, entry in results.items():
        if not isinstance(entry, dict) or not set(entry) & {"attack", "corruption"}:
            raise ValueError(
                f"`results[{model!r}]` must be a dict with an 'attack' and/or a 'corruption' "
                f"list of rows, got {entry!r:.120}.")
        if key not in entry:
            continue
        rows = list(entry[key])
        if not rows:
            raise ValueError(f"`results[{model!r}][{key!r}]` holds no rows.")
        for row in rows:
            missing = [k for k in required if not isinstance(row, dict) or k not in row]
            if missing:
                raise ValueError(
                    f"A row of `results[{model!r}][{key!r}]` lacks "
                    + ", ".join(repr(k) for k in missing) + f": {row!r:.120}.")
        found[model] = rows
    return found


def _plot_attacks(ax, attacks, colors):
    norms = set()
    for model, rows in attacks.items():
        clean = [r for r in rows if float(r["epsilon"]) == 0][:1]
        groups = {}
        for r in rows:
            if float(r["epsilon"]) != 0:
                groups.setdefault((str(r["attack"]), str(r["norm"])), []).append(r)
        norms.update(norm for _, norm in groups)
        for i, ((attack, norm), group) in enumerate((groups or {("", ""): []}).items()):
            points = sorted((float(r["epsilon"]), float(r["accuracy"])) for r in clean + group)
            ax.plot(*zip(*points), marker="o", markersize=3, color=colors[model],
                    linestyle=("-", "--", ":", "-.")[i % 4],
                    label=model if len(groups) <= 1 else f"{model} ({attack} {norm})")
    ax.set_xlabel("epsilon" + (f" ({norms.pop()})" if len(norms) == 1 else " (0: clean)"))
    ax.set_ylabel("accuracy")
    ax.set_title("adversarial attacks", fontsize=9)


def _plot_corruptions(ax, corruptions, colors):
    for model, rows in corruptions.items():
        by_severity = {}
        for r in rows:
            severity = 0 if r["corruption"] == "clean" else int(r["severity"])
            by_severity.setdefault(severity, []).append(float(r["accuracy"]))
        points = sorted((s, float(np.mean(v))) for s, v in by_severity.items())
        ax.plot(*zip(*points), marker="o", markersize=3, color=colors[model], label=model)
    ax.set_xlabel("severity (0: clean)")
    ax.set_ylabel("mean accuracy over corruptions")
    ax.set_xticks(range(6))
    ax.set_title("common corruptions", fontsize=9)


def plot_robustness(results, path=None, title=None):
    """Accuracy of several models under adversarial attacks and common
    corruptions, one line a model.

    Left: accuracy against the attack's epsilon (0: clean), one line per
    attack and norm where a model has several. Right: accuracy averaged
    over the corruptions at each severity (0: clean), from
    `keras_ssl.evaluation.corruption_accuracy`'s rows. Only one panel is
    drawn when the results hold only one of the two kinds.

    Args:
        results: maps a model name to a dict with an `"attack"` list of
            rows (`{"attack", "norm", "epsilon", "accuracy"}`, one per
            epsilon) and/or a `"corruption"` list of rows
            (`{"corruption", "severity", "accuracy"}`).
        path: where to save the figure as PNG.
        title: the figure's title.
    """
    if not results:
        raise ValueError(
            "`results` is empty: expected {model name: {'attack' / 'corruption': rows}}.")
    attacks = _robustness_rows(results, "attack", ("attack", "norm", "epsilon", "accuracy"))
    corruptions = _robustness_rows(results, "corruption", ("corruption", "severity", "accuracy"))
    panels = [(draw, found) for draw, found in ((_plot_attacks, attacks),
                                                (_plot_corruptions, corruptions)) if found]
    colors = {model: plt.cm.tab10(i % 10) for i, model in enumerate(results)}
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for ax, (draw, found) in zip(axes[0], panels):
        draw(ax, found, colors)
        ax.grid(alpha=0.3)
    # One legend under the panels: inside them it would hide the lines.
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(handles, labels, fontsize=7, loc="lower center",
               ncol=min(2, max(1, len(labels))), frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    rows = (len(labels) + 1) // 2
    fig.tight_layout(rect=(0, min(0.45, 0.05 + 0.045 * rows), 1, 1))
    return _save(fig, path)
