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
