"""The series modality through the shared run path: pretrain, probe, export, CLI."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from keras_ssl import cli
from keras_ssl import training
from keras_ssl.datasets import series as series_lib
from keras_ssl.modalities.series import resample_flat
from tests.series.series_testing import write_toy_set

TINY = {"filters": [8, 16], "kernel_sizes": 3, "strides": [1, 2]}


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("series_data")
    write_toy_set(str(root), name="Toy", n_train=40, n_test=20, steps=24)
    return str(root)


@pytest.fixture(scope="module")
def cpc_run(toy_root, tmp_path_factory):
    series_lib._CACHE.clear()
    out = str(tmp_path_factory.mktemp("runs") / "cpc")
    return training.pretrain(out, method="cpc", dataset="Toy", data_dir=toy_root, epochs=2,
                             batch_size=8, backbone_kwargs=TINY,
                             method_kwargs={"prediction_steps": 2}, verbose=0)


def test_pretrain_writes_a_run_with_a_series_export(cpc_run):
    out = cpc_run["run_dir"]
    assert cpc_run["modality"].name == "series"
    assert cpc_run["summary"]["steps"] == 2 * (40 // 8)
    assert np.isfinite(cpc_run["summary"]["final_loss"])
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["modality"] == "series" and config["backbone"] == "tcn"
    signatures = tf.saved_model.load(os.path.join(out, "encoder")).signatures
    x = cpc_run["data"]["train"][:3]
    served = signatures["serving_default"](series=tf.constant(x))["embeddings"].numpy()
    np.testing.assert_allclose(served, np.asarray(cpc_run["model"].encoder(x)), atol=1e-5)
    model, _, modality = training.load_run(out)
    assert type(model).__name__ == "CPC" and modality.name == "series"


def test_probe_and_evaluation_protocol(cpc_run, toy_root):
    results = training.probe(cpc_run["model"].encoder, "Toy", fractions=(0.25, 1.0),
                             data_dir=toy_root, modality="series")
    assert set(results) == {"linear_probe@25%", "knn@25%", "linear_probe@100%", "knn@100%"}
    assert all(0.0 <= v <= 1.0 for v in results.values())
    run = dict(cpc_run, run_dir=cpc_run["run_dir"])
    evaluated = keras_ssl.modalities.get("series").evaluate(
        run, {"evaluation": {"label_fractions": [0.5, 1.0]}})
    for section in ("pretrained", "random_init", "raw_series"):
        assert 0.0 <= evaluated[section]["linear_probe@50%"] <= 1.0, section
    assert evaluated["num_classes"] == 2 and evaluated["plots"] == ["embeddings_pca.png"]
    assert os.path.getsize(os.path.join(cpc_run["run_dir"], "embeddings_pca.png")) > 2000
    table = keras_ssl.modalities.get("series").results_table(dict(evaluated, method="cpc"))
    assert "cpc-pretrained encoder" in table and "raw series" in table


def test_resample_flat_baseline():
    x = np.zeros((2, 6, 1), "float32")
    x[0, :3, 0] = [0.0, 1.0, 2.0]
    x[1, :, 0] = np.arange(6)
    flat = resample_flat(x, [3, 6], length=5)
    np.testing.assert_allclose(flat[0], [0.0, 0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(flat[1], np.linspace(0, 5, 5))


def test_cli_pretrain_and_probe(toy_root, tmp_path, capsys):
    out = tmp_path / "w2v"
    code = cli.main(["pretrain", "--method", "wav2vec2", "--dataset", "Toy", "--data-dir", toy_root,
                     "--epochs", "1", "--batch-size", "8", "--out", str(out), "--no-export"])
    assert code == 0
    assert "Pretrained wav2vec2 on Toy" in capsys.readouterr().out
    code = cli.main(["probe", "--run", str(out), "--data-dir", toy_root, "--fractions", "0.5"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "linear_probe@50%" in printed and "Toy" in printed


def test_bad_input_is_refused_before_training(toy_root, tmp_path, capsys):
    code = cli.main(["pretrain", "--method", "cpc", "--dataset", "NoSuchSet", "--epochs", "1",
                     "--out", str(tmp_path / "x")])
    assert code != 0
    assert "Unknown series data set 'NoSuchSet'" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x" / "history.json")
    with pytest.raises(ValueError, match="`backbone` 'resnet18'|Unknown backbone 'resnet18'"):
        training.pretrain(str(tmp_path / "y"), method="cpc", dataset="Toy", backbone="resnet18")
    with pytest.raises(ValueError, match="batch_size"):
        training.pretrain(str(tmp_path / "z"), method="cpc", dataset="Toy", batch_size=1)
    missing = tmp_path / "missing"
    write_toy_set(str(missing), name="Gappy", missing=True)
    with pytest.raises(ValueError, match=r"series 1, step 2.*fill_missing"):
        training.pretrain(str(tmp_path / "gappy"), method="cpc", dataset="Gappy",
                          data_dir=str(missing), epochs=1, batch_size=4, backbone_kwargs=TINY)
    run = training.pretrain(str(tmp_path / "filled"), method="cpc", dataset="Gappy",
                            data_dir=str(missing), epochs=1, batch_size=4, backbone_kwargs=TINY,
                            fill_missing=True, export=False, verbose=0,
                            method_kwargs={"prediction_steps": 2})
    assert np.isfinite(run["summary"]["final_loss"])
