import json

import keras
import numpy as np
import pytest

from keras_ssl import visualize


def test_plots_write_pngs(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "history.json").write_text(
        json.dumps({"loss": [3.0, 2.0, 1.5], "contrastive_accuracy": [0.1, 0.3, 0.5],
                    "epoch_end_time": [1, 2, 3]}))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (10, 8, 8, 1)).astype("float32")
    paths = {
        "history": visualize.plot_history(tmp_path / "run", path=tmp_path / "h.png"),
        "pca": visualize.plot_embeddings(rng.normal(size=(50, 6)), np.arange(50) % 5,
                                         path=tmp_path / "p.png"),
        "tsne": visualize.plot_embeddings(rng.normal(size=(40, 6)), np.arange(40) % 4,
                                          method="tsne", path=tmp_path / "t.png"),
        "recon": visualize.plot_reconstructions(images, images * 0, images,
                                                path=tmp_path / "r.png"),
        "retrieval": visualize.plot_retrieval((rng.normal(size=(2, 4)), rng.normal(size=(10, 4))),
                                              images[:2], images, k=3, path=tmp_path / "k.png"),
        "bars": visualize.plot_comparison({"a": 0.5, "b": 0.7}, path=tmp_path / "b.png"),
        "tokens": visualize.plot_tokens(images, rng.integers(0, 16, (10, 2, 2)), images,
                                        path=tmp_path / "v.png"),
    }
    for name in ("h", "p", "t", "r", "k", "b", "v"):
        assert (tmp_path / f"{name}.png").stat().st_size > 2000, name
    assert len(paths["history"].axes) == 2  # timestamps are not plotted
    # Token maps show each patch's id on small grids.
    assert len(paths["tokens"].axes[8].texts) == 4


def test_history_sources_and_errors(tmp_path):
    fig = visualize.plot_history({"loss": [1.0, 0.5]})
    assert fig.axes[0].get_title() == "loss"
    with pytest.raises(FileNotFoundError, match="history.json"):
        visualize.plot_history(tmp_path)
    with pytest.raises(ValueError, match="method"):
        visualize.plot_embeddings(np.zeros((4, 2)), np.zeros(4), method="umap")
    with pytest.raises(ValueError, match="features"):
        visualize.plot_embeddings(np.zeros((4, 2)), np.zeros(3))


def test_retrieval_with_encoder(tmp_path):
    inputs = keras.Input((8, 8, 1))
    encoder = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    images = np.random.default_rng(0).integers(0, 255, (6, 8, 8, 1)).astype("float32")
    fig = visualize.plot_retrieval(encoder, images[:2], images, k=2, gallery_labels=list(range(6)))
    assert len(fig.axes) == 6


def test_plot_robustness(tmp_path):
    def attack(accuracies, norm="linf"):
        return [{"attack": "pgd", "norm": norm, "epsilon": e, "steps": 20, "accuracy": a}
                for e, a in zip((0.0, 0.05, 0.1), accuracies)]

    def corruption(clean, drop):
        rows = [{"corruption": "clean", "severity": 0, "accuracy": clean}]
        for name in ("contrast", "pixelate"):
            rows += [{"corruption": name, "severity": s, "accuracy": clean - drop * s}
                     for s in (1, 3, 5)]
        return rows

    results = {"simclr": {"attack": attack([0.9, 0.5, 0.2]), "corruption": corruption(0.9, 0.05)},
               "random": {"attack": attack([0.6, 0.3, 0.1]) + attack([0.6, 0.5, 0.4], "l2"),
                          "corruption": corruption(0.6, 0.02)}}
    fig = visualize.plot_robustness(results, path=tmp_path / "robust.png", title="robustness")
    assert (tmp_path / "robust.png").stat().st_size > 2000
    attack_ax, corruption_ax = fig.axes
    assert [line.get_label() for line in attack_ax.lines] == [
        "simclr", "random (pgd linf)", "random (pgd l2)"]
    # Severity 0 is the clean row; each severity the mean over corruptions.
    np.testing.assert_allclose(corruption_ax.lines[0].get_xydata(),
                               [[0, 0.9], [1, 0.85], [3, 0.75], [5, 0.65]])
    only = visualize.plot_robustness({"a": {"corruption": corruption(0.8, 0.1)}})
    assert len(only.axes) == 1
    with pytest.raises(ValueError, match="`results` is empty"):
        visualize.plot_robustness({})
    with pytest.raises(ValueError, match=r"`results\['a'\]\['attack'\]` lacks 'epsilon'"):
        visualize.plot_robustness({"a": {"attack": [{"attack": "pgd", "norm": "linf",
                                                     "accuracy": 0.5}]}})
    with pytest.raises(ValueError, match=r"`results\['a'\]` must be a dict"):
        visualize.plot_robustness({"a": [0.5]})
