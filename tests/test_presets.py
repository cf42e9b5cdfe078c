import json
import os
import shutil

import keras
import keras_hub
import numpy as np
import pytest

import keras_ssl
from keras_ssl import cli
from keras_ssl import presets
from keras_ssl import zoo
from keras_ssl.files import read_json
from keras_ssl.files import write_json
from tests.testing import random_images


def tiny_encoder():
    return keras_ssl.backbones.ConvNet(input_shape=(8, 8, 1), filters=(8, 16))


@pytest.fixture
def preset(tmp_path):
    encoder = tiny_encoder()
    path = presets.save(encoder, str(tmp_path / "preset"), card={"linear_probe@1%": 0.5},
                        method="simclr", dataset="digits", modality="image")
    return encoder, path


def leftovers(folder):
    return [name for name in os.listdir(folder) if name.startswith(".")]


def test_keras_ssl_and_keras_hub_load_the_same_encoder(preset):
    encoder, path = preset
    images = random_images(4, 8)
    expected = encoder.predict(images, verbose=0)
    for loaded in (keras_ssl.backbones.Backbone.from_preset(path),
                   keras_ssl.backbones.ConvNet.from_preset(path),
                   keras_hub.models.Backbone.from_preset(path)):
        assert type(loaded) is keras_ssl.backbones.ConvNet
        np.testing.assert_allclose(loaded.predict(images, verbose=0), expected, atol=1e-6)
    # Ready for fit: trainable weights, and training changes them.
    loaded = keras_ssl.backbones.Backbone.from_preset(path)
    head = keras.Sequential([loaded, keras.layers.Dense(3)])
    head.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(True))
    before = [w.numpy().copy() for w in loaded.trainable_weights]
    head.fit(images, np.array([0, 1, 2, 0]), epochs=1, verbose=0)
    assert any(not np.allclose(a, w.numpy()) for a, w in zip(before, loaded.trainable_weights))
    # keras-hub's layout, plus keras_ssl's manifest and card.
    assert {"config.json", "model.weights.h5", "metadata.json"} <= set(os.listdir(path))
    manifest = presets.read_manifest(path)
    assert manifest["input_shape"] == [8, 8, 1] and manifest["method"] == "simclr"
    assert manifest["card"] == {"linear_probe@1%": 0.5}
    assert set(manifest["files"]) == {"config.json", "model.weights.h5", "metadata.json"}


def test_wrong_class_and_random_weights(preset):
    encoder, path = preset
    with pytest.raises(ValueError, match="not a subclass"):
        keras_ssl.backbones.ResNet.from_preset(path)
    fresh = keras_ssl.backbones.Backbone.from_preset(path, load_weights=False)
    assert fresh.get_config()["filters"] == [8, 16]


def test_text_preset_round_trip(tmp_path):
    texts = ["the cat sat on the mat", "a dog ran in the park"] * 4
    tokenizer = keras_ssl.text.train_wordpiece(texts, vocabulary_size=40)
    bert = keras_ssl.backbones.BertTiny(tokenizer.vocabulary_size(), max_sequence_length=16,
                                        hidden_dim=16, intermediate_dim=16)
    mlm = keras_ssl.methods.MaskedLanguageModel(bert, tokenizer, sequence_length=16)
    text = keras_ssl.modalities.get("text")
    path = text.save_preset(mlm, str(tmp_path / "text"), method="mlm")
    assert os.path.exists(os.path.join(path, "assets", "tokenizer", "vocabulary.txt"))
    loaded = keras_hub.models.BertBackbone.from_preset(path)
    assert loaded.hidden_dim == 16
    assert presets.load_tokenizer(path).get_vocabulary() == tokenizer.get_vocabulary()
    manifest = presets.read_manifest(path)
    probe_model = text.probe_model_from_preset(path, manifest)
    sample = np.array(texts[:2], dtype=object)
    np.testing.assert_allclose(keras_ssl.modalities.text.text_features(probe_model, sample),
                               keras_ssl.modalities.text.text_features(mlm, sample), atol=1e-5)


def test_corrupt_or_missing_files_are_named(preset, tmp_path):
    _, path = preset
    broken = str(tmp_path / "broken")
    shutil.copytree(path, broken)
    with open(os.path.join(broken, "model.weights.h5"), "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="model.weights.h5.*SHA-256"):
        keras_ssl.backbones.Backbone.from_preset(broken)
    os.remove(os.path.join(broken, "metadata.json"))
    with pytest.raises(FileNotFoundError, match="missing the file 'metadata.json'"):
        presets.verify(broken)
    with pytest.raises(ValueError, match="not a preset"):
        presets.resolve(str(tmp_path))


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="Unknown preset 'no_such_preset'") as info:
        presets.resolve("no_such_preset")
    for name in presets.names():
        assert name in str(info.value)


def test_save_refuses_to_overwrite_and_leaves_nothing_half_written(preset, tmp_path):
    encoder, path = preset
    with pytest.raises(FileExistsError, match="already exists"):
        presets.save(encoder, path)

    class BrokenTokenizer:
        def save_to_preset(self, folder):
            raise RuntimeError("disk full")

    target = tmp_path / "half"
    with pytest.raises(RuntimeError, match="disk full"):
        presets.save(encoder, str(target), tokenizer=BrokenTokenizer())
    assert not target.exists() and not leftovers(tmp_path)
    with pytest.raises(TypeError, match="keras-hub Backbone"):
        presets.save(keras.Sequential([keras.layers.Dense(2)]), str(tmp_path / "x"))


def test_input_shape_mismatch_names_both_shapes(preset):
    encoder, _ = preset
    with pytest.raises(ValueError, match=r"\(8, 8, 1\).*\(28, 28, 1\)"):
        presets.check_input_shape(encoder, (28, 28, 1), "The preset 'p'")


@pytest.fixture
def tiny_zoo(tmp_path, monkeypatch, preset):
    """A zoo with one recipe whose preset and results.json are in place."""
    _, path = preset
    zoo_dir = tmp_path / "models"
    recipe = zoo_dir / "tiny_recipe"
    recipe.mkdir(parents=True)
    write_json(str(recipe / "config.json"), {"name": "tiny_recipe", "method": "simclr",
                                             "dataset": "digits"})
    shutil.copytree(path, recipe / "preset")
    write_json(str(recipe / "results.json"),
               {"preset": {"files": presets.read_manifest(path)["files"]}})
    monkeypatch.setenv("KERAS_SSL_ZOO_DIR", str(zoo_dir))
    return zoo_dir


def test_zoo_names_fetch_and_probe(tiny_zoo, tmp_path, capsys):
    assert presets.names() == ["tiny_recipe"]
    (info,) = presets.available()
    assert info["class_name"] == "ConvNet" and info["input_shape"] == [8, 8, 1]
    assert info["size_mb"] > 0 and len(info["sha256"]) == 64
    assert set(keras_ssl.backbones.ConvNet.presets) == {"tiny_recipe"}
    assert keras_ssl.backbones.ResNet.presets == {}
    encoder = keras_ssl.backbones.Backbone.from_preset("tiny_recipe")
    assert encoder.input_shape == (None, 8, 8, 1)

    out = tmp_path / "fetched"
    assert cli.main(["zoo", "fetch", "tiny_recipe", "--out", str(out)]) == 0
    assert "SHA-256 verified" in capsys.readouterr().out
    presets.verify(str(out))
    assert cli.main(["zoo", "fetch", "tiny_recipe", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err

    assert cli.main(["probe", "--preset", "tiny_recipe", "--fractions", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "linear_probe@50%" in printed and "digits" in printed
    # A preset for 8x8 images does not take Fashion-MNIST's 28x28 ones.
    with pytest.raises(ValueError, match=r"\(8, 8, 1\).*\(28, 28, 1\)"):
        keras_ssl.modalities.get("image").check_compatible(
            encoder, ((np.zeros((2, 28, 28, 1)), None), None), "The preset 'tiny_recipe'")
    assert cli.main(["probe", "--preset", "nope"]) == 2
    assert "Unknown preset 'nope'" in capsys.readouterr().err
    # A card measured at intermediate layers: the preset is probed there.
    manifest_path = tiny_zoo / "tiny_recipe" / "preset" / presets.MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["feature_layers"] = ["relu1"]
    manifest_path.write_text(json.dumps(manifest))
    assert cli.main(["probe", "--preset", "tiny_recipe", "--fractions", "0.5"]) == 0
    assert "(layers relu1)" in capsys.readouterr().out


def test_zoo_preset_tampered_against_the_card(tiny_zoo, tmp_path):
    # The zoo card's checksums are checked, not only the preset's own.
    results = read_json(str(tiny_zoo / "tiny_recipe" / "results.json"))
    results["preset"]["files"]["model.weights.h5"] = "0" * 64
    write_json(str(tiny_zoo / "tiny_recipe" / "results.json"), results)
    with pytest.raises(ValueError, match="expected 0000"):
        keras_ssl.backbones.Backbone.from_preset("tiny_recipe")
    out = tmp_path / "fetched"
    with pytest.raises(ValueError, match="SHA-256"):
        presets.fetch("tiny_recipe", str(out))
    assert not out.exists() and not leftovers(tmp_path)


SHIPPED = presets.names()


def test_shipped_presets_are_small():
    # Presets ship inside the repository (there is no weights hub to fetch
    # from), so every clone carries them: each zoo entry stays a tiny model
    # and the whole zoo stays a small download.
    # A distillation teacher (named as `teacher` by another recipe) is the
    # larger model by design and may take up to 16 MB.
    teachers = {zoo.load_recipe(name).get("method_kwargs", {}).get("teacher")
                for name in zoo.list_recipes()}
    sizes = {info["name"]: presets.folder_size(info["path"]) for info in presets.available()}
    too_big = {name: f"{size / 2**20:.1f} MB" for name, size in sizes.items()
               if size > (16 if name in teachers else 8) * 2**20}
    assert not too_big, f"presets over 8 MB (16 MB for a teacher): {too_big}"
    # The whole zoo: about 3 MB a recipe for some 35 recipes, with room for
    # a few more before its weights need a smaller format.
    total = sum(sizes.values())
    assert total < 128 * 2**20, f"shipped presets take {total / 2**20:.1f} MB"


def _reproduced():
    """The presets whose card probe is measured again: one a modality and
    architecture (every path from preset to probe: ResNet, ViT, BERT, GPT,
    TCN, video ViT, a per-frame image encoder), the first by name; all of
    them with KERAS_SSL_REPRODUCE_ALL=1. Every preset's weights are tied to
    its card by their SHA-256 (`test_shipped_preset_files_match_its_card`),
    so a preset left out here can only drift if the shared code does, which
    its representative would show."""
    if os.environ.get("KERAS_SSL_REPRODUCE_ALL") == "1":
        return SHIPPED
    chosen = {}
    for name in SHIPPED:
        manifest = presets.read_manifest(presets.resolve(name))
        chosen.setdefault((manifest.get("modality", "image"), manifest.get("class_name")), name)
    return sorted(chosen.values())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_preset_files_match_its_card(name):
    """The weights in the repository are the ones the card was measured on."""
    results = read_json(os.path.join(zoo.default_zoo_dir(), name, "results.json"))
    path = presets.resolve(name, verify=True)  # the files match the manifest's sums
    manifest = presets.read_manifest(path)
    assert manifest["files"] == results["preset"]["files"]
    with open(os.path.join(zoo.default_zoo_dir(), name, "README.md")) as f:
        assert manifest["files"]["model.weights.h5"] in f.read()
    fraction = min(results["label_fractions"])
    key = f"linear_probe@{fraction * 100:g}%"
    assert json.loads(json.dumps(manifest["card"]))[key] == results["pretrained"][key]


@pytest.mark.slow
@pytest.mark.parametrize("name", _reproduced())
def test_shipped_preset_reproduces_its_card(name):
    """The weights in the repository give the card's few-label linear probe."""
    results = read_json(os.path.join(zoo.default_zoo_dir(), name, "results.json"))
    modality = keras_ssl.modalities.of_results(results)
    path = presets.resolve(name)
    manifest = presets.read_manifest(path)
    probe_model = modality.probe_model_from_preset(path, manifest)
    if results.get("feature_layers"):  # the card's probes read these layers
        probe_model = keras_ssl.evaluation.feature_model(probe_model, results["feature_layers"])
    dataset = modality.eval_dataset(manifest["dataset"])
    seed = int(read_json(os.path.join(zoo.default_zoo_dir(), name, "config.json"))["seed"])
    data = modality.eval_data_for(probe_model, dataset, seed=seed)
    # The card's smallest label fraction (1% for images and text, 10% for series).
    fraction = min(results["label_fractions"])
    key = f"linear_probe@{fraction * 100:g}%"
    measured = modality.probe(probe_model, data, (fraction,), seed=seed, knn=False)
    card = results["pretrained"][key]
    print(f"{name}: {key} card {card:.4f}, from the preset {measured[key]:.4f}")
    assert abs(measured[key] - card) <= 0.005


def test_one_preset_a_path_is_reproduced():
    reproduced = _reproduced()
    kinds = {(presets.read_manifest(presets.resolve(n)).get("modality", "image"),
              presets.read_manifest(presets.resolve(n)).get("class_name")) for n in SHIPPED}
    assert len(reproduced) == len(kinds) <= len(SHIPPED)
