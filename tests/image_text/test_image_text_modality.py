"""CLIP through the shared run path: pretrain, evaluate, export, probe, CLI."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import cli
from keras_ssl import training
from keras_ssl.modalities.image_text import IMAGE_TEXT

TINY = {"image_size": 16, "text_hidden_dim": 16, "text_layers": 1, "sequence_length": 16,
        "embedding_dim": 8, "vocabulary_size": 300}


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "clip")
    return training.pretrain(out, method="clip", backbone="convnet", epochs=1, batch_size=16,
                             limit=64, verbose=0, **TINY)


def test_pretrain_writes_a_clip_run(clip_run):
    out = clip_run["run_dir"]
    assert clip_run["modality"] is IMAGE_TEXT
    summary = clip_run["summary"]
    assert summary["steps"] == 4 and summary["num_pairs"] == 64
    assert np.isfinite(summary["final_loss"]) and summary["logit_scale"] > 1.0
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["modality"] == "image_text" and config["dataset"] == "emoji"
    assert config["options"]["language"] == "en"
    # Pretraining reads the training split only: no held-out subgroup.
    train, test = clip_run["data"]["train"], clip_run["data"]["test"]
    assert not set(train.subgroups) & set(test.subgroups)
    assert os.path.exists(os.path.join(out, "vocabulary.txt"))
    served = tf.saved_model.load(os.path.join(out, "clip")).signatures
    images = train.images[:3]
    np.testing.assert_allclose(
        served["images_uint8"](images=tf.constant(images))["embeddings"].numpy(),
        clip_run["model"].encode_images(images), atol=1e-5)
    model, _, modality = training.load_run(out)
    assert type(model).__name__ == "CLIP" and modality is IMAGE_TEXT
    np.testing.assert_allclose(model.encode_texts(train.captions[:3]),
                               clip_run["model"].encode_texts(train.captions[:3]), atol=1e-5)


def test_evaluation_protocol(clip_run):
    results = IMAGE_TEXT.evaluate(dict(clip_run), {"evaluation": {"label_fractions": [0.5, 1.0]}},
                                  quick=True)
    assert results["num_test_pairs"] == 64
    recall = {f"{d}_recall@{k}" for d in ("text_to_image", "image_to_text") for k in (1, 5, 10)}
    zero_shot = {"zero_shot_subgroup", "zero_shot_group"}
    probes = {f"{p}@{f}" for p in ("linear_probe", "knn") for f in ("50%", "100%")}
    assert set(results["pretrained"]) == set(results["random_init"]) == recall | zero_shot | probes
    assert set(results["chance"]) == recall | zero_shot
    assert results["chance"]["text_to_image_recall@5"] == pytest.approx(5 / 64)
    assert results["chance"]["zero_shot_subgroup"] == 1 / results["num_heldout_subgroups"]
    assert set(results["majority"]) == zero_shot | {"group_probe"}
    assert set(results["raw_pixels"]) == {"linear_probe@50%", "linear_probe@100%"}
    for section in ("pretrained", "random_init", "chance", "majority", "raw_pixels"):
        assert all(0.0 <= v <= 1.0 for v in results[section].values()), section
    assert results["templates"] == ["{}", "an emoji of {}", "a picture of {}"]
    assert results["plots"] == ["retrieval.png", "embeddings_pca.png"]
    for png in results["plots"]:
        assert os.path.getsize(os.path.join(clip_run["run_dir"], png)) > 5000, png
    assert os.path.exists(os.path.join(clip_run["run_dir"], "logs", "sprite.png"))
    results.update(method="clip", dataset="emoji", command="keras-ssl zoo run x",
                   pretrain=clip_run["summary"])
    table = IMAGE_TEXT.results_table(results)
    assert "CLIP-pretrained towers" in table and "logistic regression on raw pixels" in table
    assert IMAGE_TEXT.headline(results).startswith("zero-shot ")
    assert IMAGE_TEXT.readme_row("x", results).count("|") == len(IMAGE_TEXT.readme_header()[0]
                                                                  .split("|")) - 1


def test_group_probe_split_is_stratified_and_fixed(clip_run):
    from keras_ssl import datasets
    from keras_ssl.modalities.image_text import group_probe_split

    pairs = datasets.load_image_text("emoji", image_size=16)
    (x_train, y_train), (x_test, y_test) = group_probe_split(pairs, seed=0)
    assert len(x_train) + len(x_test) == len(pairs) and x_train.shape[1:] == (16, 16, 3)
    share = np.bincount(y_train, minlength=8) / len(y_train)
    assert np.abs(share - np.bincount(y_test, minlength=8) / len(y_test)).max() < 0.02
    again = group_probe_split(pairs, seed=0)
    np.testing.assert_array_equal(again[0][1], y_train)
    # The run's probe data is the same split, at the run's image size.
    run_data = IMAGE_TEXT.eval_data(dict(clip_run))
    np.testing.assert_array_equal(run_data[1][1], y_test)


def test_cli_probe_of_the_image_tower(clip_run, capsys):
    assert cli.main(["probe", "--run", clip_run["run_dir"], "--fractions", "1.0"]) == 0
    out = capsys.readouterr().out
    assert "linear_probe@100%" in out


@pytest.mark.parametrize("kwargs, message", [
    (dict(backbone="bert_tiny"), "Unknown backbone 'bert_tiny'"),
    (dict(language="xx"), "Unknown language 'xx'"),
    (dict(dataset="flickr"), "flickr"),
    (dict(jit_compile=True), "cannot be used with method 'clip'"),
    (dict(task="sms_spam"), r"Unknown option\(s\) \['task'\]"),
])
def test_bad_runs_fail_before_any_work(tmp_path, kwargs, message):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        training.pretrain(str(out), method="clip", **kwargs)
    assert not out.exists()
