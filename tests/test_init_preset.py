"""Continuing from a preset: `pretrain(init_preset=...)`, `--init-preset`,
and the zoo's comparison with the preset as it was and with the recipe's
from-scratch twin."""

import numpy as np
import pytest

import keras_ssl
from keras_ssl import cli
from keras_ssl import presets
from keras_ssl import training
from keras_ssl import zoo
from keras_ssl.files import write_json
from keras_ssl.modalities.base import starting_point_rows

SENTENCES = [f"message {i}: the {w} sat on the {v} near number {i}"
             for i, (w, v) in enumerate(zip(["cat", "dog", "bird", "fish"] * 12,
                                            ["mat", "log", "tree", "sea", "hill", "road"] * 8))]


@pytest.fixture(scope="module")
def image_preset(tmp_path_factory):
    encoder = keras_ssl.backbones.ConvNet(input_shape=(8, 8, 1), filters=(8, 16))
    path = presets.save(encoder, str(tmp_path_factory.mktemp("p") / "conv"), method="simclr",
                        dataset="digits", modality="image", backbone_name="convnet")
    return encoder, path


@pytest.fixture(scope="module")
def text_preset(tmp_path_factory):
    tokenizer = keras_ssl.text.train_wordpiece(SENTENCES, vocabulary_size=120)
    bert = keras_ssl.backbones.BertTiny(tokenizer.vocabulary_size(), max_sequence_length=24,
                                        hidden_dim=16, intermediate_dim=32, num_heads=2,
                                        num_layers=1)
    path = presets.save(bert, str(tmp_path_factory.mktemp("p") / "bert"), tokenizer=tokenizer,
                        method="mlm", modality="text", sequence_length=24, backbone_name="bert_tiny")
    corpus = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES) + "\n")
    return bert, tokenizer, path, str(corpus)


def trainable(model):
    return [w.numpy() for w in model.trainable_weights]


def test_image_run_starts_from_the_preset(image_preset, tmp_path):
    encoder, path = image_preset
    run = training.pretrain(str(tmp_path / "run"), method="simclr", dataset="digits",
                            init_preset=path, epochs=1, batch_size=32, limit=64,
                            learning_rate=1e-12, export=False, verbose=0)
    assert run["config"]["init_preset"] == path and run["config"]["backbone"] == "convnet"
    assert len(run["config"]["init_preset_sha256"]) == 64
    start = trainable(encoder)
    after = trainable(run["model"].encoder)
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(start, after))
    # The random-init baseline is the same architecture with fresh weights.
    random = run["modality"].new_probe_model(run["config"], run["data"])
    assert [w.shape for w in trainable(random)] == [w.shape for w in start]
    assert not all(np.allclose(a, b) for a, b in zip(trainable(random), start))


def test_cli_init_preset_and_probe_compare(image_preset, tmp_path, capsys):
    _, path = image_preset
    out, scratch = tmp_path / "run", tmp_path / "scratch"
    common = ["--method", "byol", "--dataset", "digits", "--epochs", "1", "--batch-size", "32",
              "--limit", "64", "--no-export"]
    assert cli.main(["pretrain", *common, "--init-preset", path, "--out", str(out)]) == 0
    assert training.read_json(str(out / "config.json"))["init_preset"] == path
    assert cli.main(["pretrain", *common, "--backbone", "convnet", "--out", str(scratch)]) == 0
    capsys.readouterr()
    assert cli.main(["probe", "--run", str(out), "--compare", str(scratch),
                     "--fractions", "0.1"]) == 0
    printed = capsys.readouterr().out
    assert f"(2) the preset {path!r} as it was" in printed
    assert f"(3) the run {str(scratch)!r}" in printed
    assert "(1) this run  (2)     (3)" in printed
    probe = training.read_json(str(out / "probe.json"))
    assert set(probe["compared"]) == {f"the preset {path!r} as it was",
                                      f"the run {str(scratch)!r}"}
    for results in (probe, *probe["compared"].values()):
        assert 0.0 <= results["linear_probe@10%"] <= 1.0
    # The preset as it was probes as the preset itself does.
    assert cli.main(["probe", "--preset", path, "--dataset", "digits", "--fractions", "0.1"]) == 0
    alone = capsys.readouterr().out
    value = probe["compared"][f"the preset {path!r} as it was"]["linear_probe@10%"]
    assert f"linear_probe@10%  {value:.4f}" in alone
    assert cli.main(["probe", "--preset", path, "--compare", str(scratch)]) == 2
    assert "`--compare` compares runs" in capsys.readouterr().err


def test_text_run_keeps_the_preset_tokenizer_and_weights(text_preset, tmp_path):
    bert, tokenizer, path, corpus = text_preset
    run = training.pretrain(str(tmp_path / "run"), method="simcse", dataset=corpus,
                            init_preset=path, epochs=1, batch_size=8, limit=24,
                            learning_rate=1e-12, min_length=1, export=False, verbose=0)
    model = run["model"]
    assert model.tokenizer.get_vocabulary() == tokenizer.get_vocabulary()
    assert model.sequence_length == 24 and run["config"]["options"]["tokenizer"] == "preset"
    embeddings = model.backbone.token_embedding.embeddings.numpy()
    assert np.allclose(embeddings, bert.token_embedding.embeddings.numpy(), atol=1e-6)
    random = run["modality"].new_probe_model(run["config"], run["data"])
    assert not np.allclose(random.backbone.token_embedding.embeddings.numpy(), embeddings)


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="simclr", backbone="resnet18"), "not both"),
    (dict(method="mae"), "needs a ViT encoder"),
    (dict(method="mlm"), "holds a image encoder; method 'mlm' pretrains text"),
])
def test_bad_image_preset_combinations(image_preset, tmp_path, kwargs, message):
    _, path = image_preset
    with pytest.raises(ValueError, match=message):
        training.pretrain(str(tmp_path / "run"), init_preset=path, epochs=1, **kwargs)
    assert not (tmp_path / "run").exists()  # refused before any work


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="clm"), "holds a BertBackbone; method 'clm' starts from a GPT2Backbone"),
    (dict(method="simcse", vocabulary_size=500), "`vocabulary_size` cannot be set"),
    (dict(method="mlm", sequence_length=64), "longer than the 24 tokens"),
])
def test_bad_text_preset_combinations(text_preset, tmp_path, kwargs, message):
    _, _, path, corpus = text_preset
    with pytest.raises(ValueError, match=message):
        training.pretrain(str(tmp_path / "run"), dataset=corpus, init_preset=path, epochs=1,
                          **kwargs)


def test_unknown_or_corrupt_preset_is_refused(image_preset, tmp_path):
    with pytest.raises(ValueError, match="Unknown preset 'no_such_preset'"):
        training.pretrain(str(tmp_path / "a"), method="simclr", init_preset="no_such_preset")
    _, path = image_preset
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(path, broken)
    with open(broken / "model.weights.h5", "ab") as f:
        f.write(b"x")
    with pytest.raises(ValueError, match="SHA-256"):
        training.pretrain(str(tmp_path / "b"), method="simclr", init_preset=str(broken))


def test_resnet_adapts_to_a_new_size_and_vit_says_why_not():
    resnet = keras_ssl.backbones.ResNet18(input_shape=(28, 28, 1), width_multiplier=0.125)
    bigger = presets.adapt_to_input_shape(resnet, (72, 72, 1))
    assert bigger.input_shape == (None, 72, 72, 1) and bigger.stem_in_use == "small"
    assert all(np.array_equal(a, b) for a, b in zip(bigger.get_weights(), resnet.get_weights()))
    with pytest.raises(ValueError, match="1 channel"):
        presets.adapt_to_input_shape(resnet, (28, 28, 3))
    vit = keras_ssl.backbones.ViT(input_shape=(16, 16, 1), patch_size=4, hidden_dim=16,
                                  num_layers=1, num_heads=2, mlp_dim=32)
    with pytest.raises(ValueError, match=r"do not fit images of shape \(32, 32, 1\)"):
        presets.adapt_to_input_shape(vit, (32, 32, 1))


def _recipe(zoo_dir, name, **config):
    (zoo_dir / name).mkdir(parents=True)
    base = {"method": "simclr", "dataset": "digits", "epochs": 3, "budget_minutes": 5}
    write_json(str(zoo_dir / name / "config.json"), {"name": name, **base, **config})


def test_scratch_twin_must_be_the_same_recipe(tmp_path):
    zoo_dir = tmp_path / "models"
    _recipe(zoo_dir, "scratch")
    _recipe(zoo_dir, "continued", init_preset="x", scratch_recipe="scratch")
    _recipe(zoo_dir, "longer", init_preset="x", scratch_recipe="scratch", budget_minutes=9)
    config = zoo.load_recipe("continued", str(zoo_dir))
    with pytest.raises(ValueError, match="has no results yet"):
        zoo.scratch_results(config, str(zoo_dir))
    write_json(str(zoo_dir / "scratch" / "results.json"),
               {"pretrained": {"linear_probe@1%": 0.5}})
    assert zoo.scratch_results(config, str(zoo_dir)) == {"recipe": "scratch",
                                                          "linear_probe@1%": 0.5}
    with pytest.raises(ValueError, match=r"differs in \['budget_minutes'\]"):
        zoo.scratch_results(zoo.load_recipe("longer", str(zoo_dir)), str(zoo_dir))


def test_baseline_recipe_must_train_the_same_encoder(tmp_path):
    # A distillation recipe names the same student pretrained directly.
    zoo_dir = tmp_path / "models"
    small = {"backbone": "resnet18", "options": {"width_multiplier": 0.125}}
    _recipe(zoo_dir, "direct", **small)
    _recipe(zoo_dir, "distilled", method="distill", baseline_recipe="direct", **small)
    _recipe(zoo_dir, "wider", method="distill", baseline_recipe="direct", backbone="resnet18",
            options={"width_multiplier": 0.25})
    config = zoo.load_recipe("distilled", str(zoo_dir))
    with pytest.raises(ValueError, match="has no results yet"):
        zoo.baseline_results(config, str(zoo_dir))
    write_json(str(zoo_dir / "direct" / "results.json"),
               {"pretrained": {"linear_probe@1%": 0.6}})
    assert zoo.baseline_results(config, str(zoo_dir)) == {"recipe": "direct",
                                                           "linear_probe@1%": 0.6}
    with pytest.raises(ValueError, match=r"another encoder: it differs in \['width_multiplier'\]"):
        zoo.baseline_results(zoo.load_recipe("wider", str(zoo_dir)), str(zoo_dir))
    rows = starting_point_rows({"baseline": {"recipe": "direct", "linear_probe@1%": 0.6}})
    assert rows == [("the same encoder pretrained directly ([direct](../direct/))",
                     {"recipe": "direct", "linear_probe@1%": 0.6})]



def test_cards_show_the_starting_point_and_the_twin():
    image = keras_ssl.modalities.get("image")
    results = {"method": "simclr", "label_fractions": [0.01],
               "pretrained": {"linear_probe@1%": 0.8}, "random_init": {"linear_probe@1%": 0.6},
               "init_preset": {"preset": "p", "linear_probe@1%": 0.7},
               "scratch": {"recipe": "twin", "linear_probe@1%": 0.75},
               "raw_pixels": {}, "supervised_scratch": {}}
    table = image.results_table(results)
    assert "| `p` as it was (the starting point) | 0.7000 |" in table
    assert "[twin](../twin/)) | 0.7500 |" in table
