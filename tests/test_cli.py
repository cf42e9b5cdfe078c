import json
import os

import pytest

from keras_ssl import cli
from keras_ssl import zoo


def run_cli(*argv):
    return cli.main([str(a) for a in argv])


@pytest.mark.slow
def test_pretrain_probe_export_on_digits(tmp_path, capsys):
    run = tmp_path / "run"
    assert run_cli("pretrain", "--method", "simclr", "--dataset", "digits",
                   "--backbone", "convnet", "--epochs", "2", "--batch-size", "64",
                   "--limit", "256", "--out", run) == 0
    for name in ("config.json", "history.json", "model.keras", "pretrain.json"):
        assert (run / name).exists(), name
    assert (run / "encoder" / "saved_model.pb").exists()
    assert os.listdir(run / "logs")
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == 2
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == "simclr" and config["epochs"] == 2

    assert run_cli("probe", "--run", run, "--fractions", "0.5", "1") == 0
    out = capsys.readouterr().out
    assert "linear_probe@50%" in out and "knn@100%" in out
    probe = json.loads((run / "probe.json").read_text())
    assert 0.0 <= probe["linear_probe@100%"] <= 1.0
    assert run_cli("probe", "--run", run, "--fractions", "1", "--feature-layers",
                   "relu1", "relu2") == 0
    assert "(layers relu1, relu2)" in capsys.readouterr().out
    assert run_cli("probe", "--run", run, "--feature-layers", "nope") == 2
    assert "not a layer of encoder" in capsys.readouterr().err

    assert run_cli("export", "--run", run, "--out", tmp_path / "exported") == 0
    assert (tmp_path / "exported" / "saved_model.pb").exists()
    # A finished run is not overwritten by accident.
    assert run_cli("pretrain", "--dataset", "digits", "--backbone", "convnet",
                   "--epochs", "1", "--out", run) == 2
    assert "already holds a finished run" in capsys.readouterr().err


@pytest.mark.slow
def test_pretrain_every_joint_embedding_method_and_export_the_teacher(tmp_path, capsys):
    for method in ("moco", "byol", "simsiam", "barlow", "vicreg", "dino"):
        run = tmp_path / method
        assert run_cli("pretrain", "--method", method, "--dataset", "digits",
                       "--backbone", "convnet", "--epochs", "1", "--batch-size", "64",
                       "--limit", "128", "--no-export", "--out", run) == 0, method
        history = json.loads((run / "history.json").read_text())
        assert history["embedding_std"][0] > 0, method
    assert run_cli("export", "--run", tmp_path / "byol", "--teacher",
                   "--out", tmp_path / "teacher") == 0
    assert "teacher encoder" in capsys.readouterr().out
    assert (tmp_path / "teacher" / "saved_model.pb").exists()
    assert run_cli("export", "--run", tmp_path / "simsiam", "--teacher",
                   "--out", tmp_path / "none") == 2
    assert "no momentum teacher" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_unknown_names_are_rejected_before_work(capsys, tmp_path):
    for argv in (["pretrain", "--method", "swav", "--out", "x"],
                 ["pretrain", "--backbone", "vgg", "--out", "x"]):
        with pytest.raises(SystemExit) as exc:
            run_cli(*argv)
        assert exc.value.code == 2
        assert "invalid choice" in capsys.readouterr().err
    # Dataset names depend on the method's modality: checked by it, still before any work.
    assert run_cli("pretrain", "--dataset", "imagenet", "--out", tmp_path / "x") == 2
    assert "Unknown dataset 'imagenet'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit):
        run_cli("pretrain", "--epochs", "0", "--out", "x")


def test_probe_of_missing_run(tmp_path, capsys):
    assert run_cli("probe", "--run", tmp_path / "nothing") == 2
    assert "not a finished keras-ssl pretraining run" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_tiny(tmp_path, capsys):
    out = tmp_path / "demo"
    assert run_cli("demo", "--backbone", "convnet", "--epochs", "1",
                   "--limit", "256", "--batch-size", "64", "--out", out) == 0
    text = capsys.readouterr().out
    assert "pretrained" in text and "random init" in text
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"pretrained", "random_init"}
    for name in ("loss_curve.png", "embeddings_pca.png"):
        assert (out / name).stat().st_size > 1000
    assert (out / "encoder" / "saved_model.pb").exists()


def test_zoo_list_shows_every_recipe(capsys):
    assert run_cli("zoo", "list") == 0
    out = capsys.readouterr().out
    for name in zoo.list_recipes():
        assert name in out
    with pytest.raises(ValueError, match="Unknown recipe"):
        zoo.load_recipe("no_such_recipe")


@pytest.mark.slow
def test_pretrain_mlm_on_a_text_file(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(
        f"the {a} {b} sat on the {c} mat" for a in ("red", "big", "old", "shy")
        for b in ("cat", "dog", "fox") for c in ("blue", "green", "warm", "cold")) + "\n")
    out = tmp_path / "mlm"
    assert run_cli("pretrain", "--method", "mlm", "--text", corpus, "--epochs", "1",
                   "--batch-size", "8", "--sequence-length", "16", "--vocabulary-size", "60",
                   "--out", out) == 0
    for name in ("config.json", "history.json", "model.keras", "vocabulary.txt", "pretrain.json"):
        assert (out / name).exists(), name
    assert (out / "text_encoder" / "saved_model.pb").exists()
    summary = json.loads((out / "pretrain.json").read_text())
    assert 0.0 <= summary["held_out_masked_accuracy"] <= 1.0 and summary["steps"] >= 1


def test_pretrain_with_xla_and_mixed_precision(tmp_path, capsys):
    import keras

    run = tmp_path / "run"
    assert run_cli("pretrain", "--dataset", "digits", "--backbone", "convnet",
                   "--epochs", "1", "--batch-size", "32", "--limit", "64",
                   "--jit-compile", "on", "--precision", "mixed_float16",
                   "--no-export", "--out", run) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["jit_compile"] is True and config["precision"] == "mixed_float16"
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == 1
    assert keras.mixed_precision.global_policy().name == "float32"
    assert run_cli("pretrain", "--method", "mlm", "--jit-compile", "on",
                   "--out", tmp_path / "mlm") == 2
    assert "cannot be used with method 'mlm'" in capsys.readouterr().err
    assert run_cli("pretrain", "--method", "mlm", "--precision", "mixed_float16",
                   "--out", tmp_path / "mlm") == 2
    assert "`precision` 'mixed_float16' cannot be used with text" in capsys.readouterr().err
    assert run_cli("pretrain", "--method", "simclr", "--sequence-length", "8",
                   "--out", tmp_path / "simclr") == 2
    assert "Unknown option(s) ['sequence_length'] for image methods" in capsys.readouterr().err
