import json
import os

import numpy as np
import pytest

from keras_ssl import modalities
from keras_ssl import training
from keras_ssl import zoo


def test_every_method_has_one_modality():
    assert set(modalities.available_methods()) == {
        "simclr", "moco", "byol", "simsiam", "barlow", "vicreg", "dino", "rotation", "mae",
        "simmim", "beit", "denoising", "mlm", "sop", "clm", "simcse", "cpc", "wav2vec2",
        "videomae", "frame_order", "clip", "distill", "tinybert"}
    assert modalities.for_method("cpc").name == "series"
    assert modalities.for_method("mae").name == "image"
    assert modalities.for_method("dino").name == "image"
    assert modalities.for_method("mlm").name == "text"
    assert modalities.for_method("tinybert").name == "text"
    assert modalities.for_method("videomae").name == "video"
    assert modalities.for_method("frame_order").name == "video"
    assert modalities.for_method("clip").name == "image_text"
    with pytest.raises(ValueError, match="Unknown method 'swav'.*'simclr'"):
        modalities.for_method("swav")
    with pytest.raises(ValueError, match="Unknown modality 'audio'"):
        modalities.get("audio")


def test_a_method_cannot_be_registered_twice():
    class Clash(modalities.Modality):
        name = "clash"
        methods = {"simclr": {}}

    with pytest.raises(ValueError, match="'simclr' is already registered by modality 'image'"):
        modalities.register(Clash())
    assert "clash" not in [m.name for m in modalities.all_modalities()]


def test_results_find_their_modality():
    assert modalities.of_results({"modality": "text"}).name == "text"
    assert modalities.of_results({"kind": "text"}).name == "text"  # older results files
    assert modalities.of_results({"method": "simclr"}).name == "image"


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="simclr", dataset="imagenet"), "Unknown dataset 'imagenet'"),
    (dict(method="simclr", backbone="vgg"), "Unknown backbone 'vgg'"),
    (dict(method="mae", backbone="resnet18"), "needs a ViT backbone"),
    (dict(method="simclr", sequence_length=8), r"Unknown option\(s\) \['sequence_length'\]"),
    (dict(method="mlm", width_multiplier=1.0), r"Unknown option\(s\) \['width_multiplier'\]"),
    (dict(method="mlm", backbone="resnet18"), "Unknown backbone 'resnet18'"),
    (dict(method="clm", backbone="bert_tiny"), "Unknown backbone 'bert_tiny'"),
    (dict(method="mlm", task="imdb"), "Unknown task 'imdb'"),
    (dict(method="mlm", jit_compile=True), "cannot be used with method 'mlm'"),
    (dict(method="mlm", precision="mixed_float16"), "cannot be used with text methods"),
    (dict(method="simclr", batch_size=1), "`batch_size` must be >= 2"),
    (dict(method="simclr", epochs=0), "`epochs` must be >= 1"),
])
def test_bad_runs_fail_before_any_work(tmp_path, kwargs, message):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        training.pretrain(str(out), **kwargs)
    assert not out.exists()


@pytest.mark.slow
def test_one_path_for_images_and_text(tmp_path):
    """The same `pretrain` writes the same run folder for both modalities."""
    image = training.pretrain(str(tmp_path / "image"), method="simclr", backbone="convnet",
                              epochs=1, batch_size=32, limit=64, verbose=0)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"the {a} {b} sat on the {c} mat today"
                                for a in ("red", "big", "old", "shy")
                                for b in ("cat", "dog", "fox") for c in ("blue", "warm")))
    text = training.pretrain(str(tmp_path / "text"), method="mlm", dataset=str(corpus),
                             epochs=1, batch_size=8, sequence_length=16, vocabulary_size=60,
                             min_length=5, verbose=0)
    for run, export in ((image, "encoder"), (text, "text_encoder")):
        folder = tmp_path / run["modality"].name
        for name in ("config.json", "history.json", "pretrain.json", "model.keras"):
            assert (folder / name).exists(), name
        assert (folder / export / "saved_model.pb").exists()
        assert (folder / "checkpoints").exists() or run["summary"]["steps"] > 0
        summary = json.loads((folder / "pretrain.json").read_text())
        assert summary["steps"] >= 1 and summary["epochs_completed"] == 1
        config = json.loads((folder / "config.json").read_text())
        assert config["modality"] == run["modality"].name
        model, _, modality = training.load_run(str(folder))
        assert modality is run["modality"]
        probe_model = modality.probe_model(model)
        data = modality.eval_data(run)
        data = ((data[0][0][:60], data[0][1][:60]), (data[1][0][:40], data[1][1][:40]))
        scores = training.probe(probe_model, None, (0.5, 1.0), data=data, modality=modality)
        assert set(scores) == {"linear_probe@50%", "knn@50%", "linear_probe@100%", "knn@100%"}
        assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert text["summary"]["vocabulary_size"] <= 60
    assert (tmp_path / "text" / "vocabulary.txt").exists()


def test_readme_tables_come_from_the_registry():
    table = zoo.readme_table()
    used = set()
    for name in zoo.list_recipes():
        path = os.path.join(zoo.default_zoo_dir(), name, "results.json")
        if os.path.exists(path):
            used.add(modalities.of_results(training.read_json(path)).name)
    assert used == {"image", "text", "series", "video", "image_text"}
    for name in used:
        for line in modalities.get(name).readme_header():
            assert line in table


def test_linear_probes_embed_only_what_they_use():
    from keras_ssl.modalities.base import linear_probes

    seen = []

    def extract(x):
        seen.append(len(x))
        return x.reshape(len(x), -1).astype("float32")

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 50)
    x = rng.normal(size=(200, 3)) + 3.0 * y[:, None]
    results = linear_probes(extract, ((x, y), (x[1::5], y[1::5])), (0.1,), knn=False)
    assert seen == [20, 40]  # 10% of the training set, then the test set
    assert results["linear_probe@10%"] > 0.8  # four well-separated classes
