"""Pretraining on the user's own images: a folder, or TFRecord shards."""

import json

import numpy as np
import pytest
from PIL import Image

from keras_ssl import cli, datasets, training


def run_cli(*argv):
    return cli.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """40 color images of mixed sizes in two sub-folders."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(40):
        folder = root / ("day" if i % 2 else "night")
        folder.mkdir(exist_ok=True)
        size = (18 + i % 5, 24)
        Image.fromarray(rng.integers(0, 256, size + (3,), dtype="uint8")).save(
            folder / f"{i:03d}.{'jpg' if i % 3 else 'png'}")
    return root


@pytest.mark.slow
def test_pretrain_from_a_folder_and_from_shards(photos, tmp_path, capsys):
    run = tmp_path / "folder_run"
    assert run_cli("pretrain", "--method", "simclr", "--images", photos, "--image-size", "16",
                   "--backbone", "convnet", "--epochs", "1", "--batch-size", "8",
                   "--out", run) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["dataset"] == str(photos) and config["options"]["image_size"] == 16
    summary = json.loads((run / "pretrain.json").read_text())
    assert summary["num_train"] == 40 and summary["steps"] == 5
    assert (run / "encoder" / "saved_model.pb").exists()
    encoder = training.load_run_encoder(str(run))
    assert tuple(encoder.input_shape[1:]) == (16, 16, 3)
    # Probed on labelled images of the user's (class = sub-folder), at the
    # encoder's input size, split 80/20 per class.
    assert run_cli("probe", "--run", run, "--labeled", photos, "--fractions", "1") == 0
    out = capsys.readouterr().out
    assert f"on {photos}" in out and "linear_probe@100%" in out
    probe = json.loads((run / "probe.json").read_text())
    assert 0.0 <= probe["linear_probe@100%"] <= 1.0
    assert run_cli("probe", "--run", run) == 2
    assert "probe on labelled ones with --labeled PATH" in capsys.readouterr().err

    shards = tmp_path / "shards"
    assert run_cli("data", "write-tfrecords", photos, shards, "--shard-size", "16",
                   "--image-size", "16") == 0
    run = tmp_path / "shard_run"
    assert run_cli("pretrain", "--method", "mae", "--images", shards, "--channels", "1",
                   "--epochs", "1", "--batch-size", "8", "--limit", "24", "--no-export",
                   "--out", run) == 0
    summary = json.loads((run / "pretrain.json").read_text())
    assert summary["num_train"] == 24 and summary["steps"] == 3
    assert "Pretrained mae on" in capsys.readouterr().out


def test_labelled_images_split_per_class(photos):
    from keras_ssl.datasets import streams

    ((x_train, y_train), (x_test, y_test)), names = streams.load_labelled_images(
        photos, image_size=(8, 8), channels=1, seed=0)
    assert names == ["day", "night"] and x_train.shape[1:] == (8, 8, 1)
    assert np.bincount(y_test).tolist() == [4, 4] and np.bincount(y_train).tolist() == [16, 16]
    with pytest.raises(ValueError, match="`test_fraction` must lie in"):
        streams.load_labelled_images(photos, (8, 8), 1, test_fraction=1.0)


def test_shards_without_a_manifest_are_counted(photos, tmp_path):
    shards = tmp_path / "bare"
    datasets.write_tfrecords(photos, shards, shard_size=25, image_size=8, verbose=False)
    (shards / "manifest.json").unlink()
    from keras_ssl.datasets import streams

    stream, count = streams.open_images(str(shards / "*.tfrecord"))
    assert count == 40 and stream.element_spec.shape == (8, 8, 3)


def test_own_images_bad_input(photos, tmp_path, capsys):
    def error(*argv):
        assert run_cli("pretrain", *argv, "--out", tmp_path / "bad") == 2
        return capsys.readouterr().err

    assert "Pass one of --images and --dataset" in error("--images", photos, "--dataset",
                                                          "digits")
    assert "`image_size` applies to your own images" in error("--dataset", "digits",
                                                             "--image-size", "16")
    assert "does not exist" in error("--images", tmp_path / "nowhere")
    assert "`batch_size` 256 is larger than the data (40 images" in error(
        "--images", photos, "--image-size", "16", "--backbone", "convnet")
    assert run_cli("demo", "--images", photos) == 2
    assert "pretrain on your own images" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "model.keras").exists()


def test_vit_patches_grow_with_the_image():
    from keras_ssl.modalities.image import build_encoder

    def patch(size):
        return build_encoder("vit", (size, size, 3), hidden_dim=8, num_layers=1,
                             num_heads=1).patch_size

    # Small images keep 4-pixel patches; real sizes get at most 14 x 14 patches.
    assert [patch(s) for s in (8, 28, 32, 56, 64, 96, 224)] == [2, 4, 4, 4, 8, 8, 16]


@pytest.mark.slow
def test_a_recipe_names_a_folder(photos, tmp_path, capsys):
    import os

    from keras_ssl import zoo

    # A zoo of the user's own: the recipe pretrains on a folder and is
    # evaluated on labelled images named in `evaluation.labeled`.
    zoo_dir = tmp_path / "myzoo"
    (zoo_dir / "mine").mkdir(parents=True)
    config = {"name": "mine", "method": "simclr", "dataset": str(photos), "backbone": "convnet",
              "epochs": 1, "batch_size": 8, "seed": 0, "options": {"image_size": 16},
              "evaluation": {"label_fractions": [1.0], "labeled": str(photos),
                             "fine_tune": {"epochs": 1}}}
    (zoo_dir / "mine" / "config.json").write_text(json.dumps(config))
    assert run_cli("zoo", "run", "mine", "--zoo-dir", zoo_dir, "--out", tmp_path / "out") == 0
    results = json.loads((zoo_dir / "mine" / "results.json").read_text())
    assert results["dataset"] == str(photos) and results["labeled"] == str(photos)
    assert results["pretrain"]["num_train"] == 40
    for section in ("pretrained", "random_init"):
        assert 0.0 <= results[section]["linear_probe@100%"] <= 1.0
    assert 0.0 <= results["pretrained"]["fine_tune@100%"] <= 1.0
    assert "embeddings_pca.png" in results["plots"]
    assert results["preset"]["path"] == os.path.join("myzoo", "mine", "preset")
    card = (zoo_dir / "mine" / "README.md").read_text()
    assert zoo.CARD_BEGIN in card and results["command"] in card
    assert not (tmp_path / "README.md").exists()  # no project README to update
    assert run_cli("zoo", "list", "--zoo-dir", zoo_dir) == 0
    assert "mine" in capsys.readouterr().out

    # Without labelled images named, the recipe fails before pretraining.
    del config["evaluation"]["labeled"]
    (zoo_dir / "mine" / "config.json").write_text(json.dumps(config))
    assert run_cli("zoo", "run", "mine", "--zoo-dir", zoo_dir, "--out", tmp_path / "out2") == 2
    assert "name labelled ones in `evaluation.labeled`" in capsys.readouterr().err
    config["evaluation"]["labeled"] = str(tmp_path / "nowhere")
    (zoo_dir / "mine" / "config.json").write_text(json.dumps(config))
    assert run_cli("zoo", "run", "mine", "--zoo-dir", zoo_dir, "--out", tmp_path / "out2") == 2
    assert "`evaluation.labeled`" in capsys.readouterr().err
    assert not (tmp_path / "out2" / "run").exists()
