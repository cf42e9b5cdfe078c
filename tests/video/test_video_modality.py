"""The video modality through the shared run path: pretrain, evaluate, export, CLI."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import keras_ssl
from keras_ssl import cli
from keras_ssl import training
from keras_ssl.modalities.video import VIDEO
from keras_ssl.modalities.video import clip_features
from keras_ssl.modalities.video import flatten_clips

TINY_VIT = {"hidden_dim": 16, "num_layers": 1, "num_heads": 2}
TINY_DECODER = {"decoder_dim": 16, "decoder_layers": 1, "decoder_heads": 2}
SIZES = {"frames": 4, "image_size": 16, "num_videos": 32, "num_test": 40}


@pytest.fixture(scope="module")
def vmae_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "videomae")
    return training.pretrain(out, method="videomae", dataset="moving_digits", epochs=2,
                             batch_size=8, backbone_kwargs=TINY_VIT,
                             method_kwargs=dict(mask_ratio=0.75, **TINY_DECODER), verbose=0,
                             **SIZES)


@pytest.fixture
def small_eval_sets(monkeypatch):
    """Held-out sets of `keras-ssl probe` at a tiny size."""
    monkeypatch.setattr(VIDEO, "options", dict(VIDEO.options, num_videos=40, num_test=30))


def test_pretrain_writes_a_video_run(vmae_run):
    out = vmae_run["run_dir"]
    assert vmae_run["modality"].name == "video"
    assert vmae_run["summary"]["steps"] == 2 * (32 // 8)
    assert np.isfinite(vmae_run["summary"]["final_loss"])
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["modality"] == "video" and config["backbone"] == "videovit"
    assert config["options"]["frames"] == 4 and config["dataset"] == "moving_digits"
    x = vmae_run["data"]["train"][:3]
    assert x.shape == (3, 4, 16, 16, 1) and x.dtype == np.uint8
    encoder = vmae_run["model"].encoder
    signatures = tf.saved_model.load(os.path.join(out, "encoder")).signatures
    served = signatures["serving_uint8"](videos=tf.constant(x))["embeddings"].numpy()
    np.testing.assert_allclose(served, np.asarray(encoder(x)), atol=1e-5)
    model, _, modality = training.load_run(out)
    assert type(model).__name__ == "VideoMAE" and modality is VIDEO
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(encoder(x)), atol=1e-5)
    assert model.masking.time_slices == 2


def test_evaluation_protocol_probes_item_and_direction(vmae_run):
    run = dict(vmae_run)
    results = VIDEO.evaluate(run, {"evaluation": {"label_fractions": [0.5, 1.0]}})
    keys = {f"{prefix}{probe}@{f}" for prefix in ("", "direction_")
            for probe in ("linear_probe", "knn") for f in ("50%", "100%")}
    assert set(results["pretrained"]) == set(results["random_init"]) == keys
    assert set(results["raw_pixels"]) == {k for k in keys if "knn" not in k}
    for section in ("pretrained", "random_init", "raw_pixels"):
        assert all(0.0 <= v <= 1.0 for v in results[section].values()), section
    assert results["num_classes"] == {"item": 10, "direction": 8}
    assert results["plots"] == ["embeddings_pca.png", "embeddings_pca_direction.png",
                                "reconstructions.png"]
    for png in results["plots"]:
        assert os.path.getsize(os.path.join(run["run_dir"], png)) > 2000, png
    logs = os.path.join(run["run_dir"], "logs")
    assert os.path.exists(os.path.join(logs, "projector_config.pbtxt"))
    assert os.path.exists(os.path.join(logs, "sprite.png"))
    results.update(method="videomae", dataset="moving_digits", command="keras-ssl zoo run x",
                   pretrain=run["summary"])
    table = VIDEO.results_table(results)
    assert "videomae-pretrained encoder" in table and "raw pixels of the clip" in table
    assert "direction: linear probe, 50% labels" in table
    assert VIDEO.headline(results).startswith("item probe@50% ")
    row = VIDEO.readme_row("x", results)
    assert row.startswith("| [x](models/x/) | moving_digits |")
    assert row.count("|") == VIDEO.readme_header()[0].count("|")
    assert keras_ssl.modalities.of_results(results) is VIDEO


def test_frame_order_run_probes_the_mean_of_frame_features(tmp_path):
    run = training.pretrain(str(tmp_path / "order"), method="frame_order",
                            dataset="moving_digits", backbone="convnet", epochs=1, batch_size=8,
                            method_kwargs={"frames": 3, "hidden_dim": 16},
                            backbone_kwargs={"filters": [8, 16]}, verbose=0, **SIZES)
    encoder = run["model"].encoder
    assert encoder.input_shape == (None, 16, 16, 1)
    (x, y), (x_test, y_test) = VIDEO.eval_data(run)
    frames = encoder.predict(x_test[:5].reshape(20, 16, 16, 1), verbose=0)
    np.testing.assert_allclose(clip_features(encoder, x_test[:5]),
                               frames.reshape(5, 4, -1).mean(axis=1), atol=1e-5)
    scores = training.probe(encoder, None, (0.5,), data=((x, y), (x_test, y_test)),
                            modality="video")
    assert set(scores) == {"linear_probe@50%", "knn@50%", "direction_linear_probe@50%",
                           "direction_knn@50%"}
    results = VIDEO.evaluate(dict(run), {"evaluation": {"label_fractions": [0.5]}}, quick=True)
    assert results["plots"] == ["embeddings_pca.png", "embeddings_pca_direction.png"]
    metadata = keras_ssl.export.read_metadata(os.path.join(run["run_dir"], "encoder"))
    assert metadata["input_kind"] == "images"  # the per-frame image encoder


def test_flatten_clips_baseline():
    videos = np.arange(2 * 2 * 4 * 4, dtype="float32").reshape(2, 2, 4, 4, 1) * 2
    np.testing.assert_allclose(flatten_clips(videos, max_features=64),
                               videos.reshape(2, -1) / 255.0)
    pooled = flatten_clips(videos, max_features=8)
    assert pooled.shape == (2, 8)
    np.testing.assert_allclose(pooled[0, 0], videos[0, 0, :2, :2].mean() / 255.0)


def test_probe_data_are_made_at_the_encoders_size(vmae_run, small_eval_sets):
    encoder = vmae_run["model"].encoder
    (x, y), (x_test, _) = VIDEO.eval_data_for(encoder, "moving_digits")
    assert x.shape == (40, 4, 16, 16, 1) and x_test.shape == (30, 4, 16, 16, 1)
    frame_encoder = keras_ssl.backbones.ConvNet(input_shape=(24, 24, 1), filters=(8,))
    (x, _), _ = VIDEO.eval_data_for(frame_encoder, "moving_digits")
    assert x.shape == (40, 8, 24, 24, 1)  # the default frames, the encoder's frame size
    with pytest.raises(ValueError, match=r"takes clips of shape \(4, 16, 16, 1\).*"
                                         r"\(8, 24, 24, 1\)"):
        VIDEO.check_compatible(encoder, ((x, y), (x, y)), "The encoder")


def test_cli_pretrain_and_probe(tmp_path, capsys, small_eval_sets):
    out = tmp_path / "order"
    code = cli.main(["pretrain", "--method", "frame_order", "--dataset", "moving_digits",
                     "--backbone", "convnet", "--frames", "4", "--image-size", "16",
                     "--limit", "16", "--epochs", "1", "--batch-size", "8", "--out", str(out),
                     "--no-export"])
    assert code == 0
    assert "Pretrained frame_order on moving_digits" in capsys.readouterr().out
    code = cli.main(["probe", "--run", str(out), "--fractions", "0.5"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "direction_linear_probe@50%" in printed and "moving_digits" in printed
    probe = json.loads((out / "probe.json").read_text())
    assert 0.0 <= probe["direction_knn@50%"] <= 1.0


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="videomae", backbone="resnet18"), "Unknown backbone 'resnet18'"),
    (dict(method="frame_order", backbone="videovit"), "cannot be used with method 'frame_order'"),
    (dict(method="videomae", dataset="moving_cifar"), "Unknown dataset 'moving_cifar'"),
    (dict(method="videomae", dataset="fashion_mnist"), "Unknown dataset 'fashion_mnist'"),
    (dict(method="videomae", frames=1), "`frames` must be an integer >= 2"),
    (dict(method="videomae", image_size=4), "`image_size` must be an integer >= 8"),
    (dict(method="frame_order", frames=4, method_kwargs={"frames": 5}),
     r"samples `frames`=5 frames a clip \(method_kwargs\), more than the clips' 4"),
    (dict(method="videomae", channels=3), r"Unknown option\(s\) \['channels'\]"),
    (dict(method="simclr", frames=8), r"Unknown option\(s\) \['frames'\]"),
])
def test_bad_runs_fail_before_any_work(tmp_path, kwargs, message):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        training.pretrain(str(out), **kwargs)
    assert not out.exists()


def test_cli_lists_the_video_names(capsys):
    with pytest.raises(SystemExit):
        cli.main(["pretrain", "--help"])
    text = capsys.readouterr().out
    for name in ("moving_fashion_mnist", "videomae", "frame_order", "videovit", "--frames"):
        assert name in text, name
