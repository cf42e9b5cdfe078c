"""The benchmark scripts run end to end at tiny sizes and write their JSON.

Their numbers are not checked here (timings belong in the benchmarks, not
in tests); what is checked is that every setting runs and is reported.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(name, *args):
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", name), *args],
        capture_output=True, text=True, timeout=600,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_throughput_table(tmp_path):
    out = tmp_path / "throughput.json"
    stdout = run_script(
        # Each setting is a fresh process: two of them keep this short.
        # The jit-off path is measured by the series test below; that MAE
        # gets a ViT whatever --backbone says, by the test after it.
        "throughput.py", "--methods", "simclr", "--backbone", "convnet", "--jit", "on",
        "--augment", "step", "data", "--batch-size", "8", "--steps", "2",
        "--repeats", "1", "--image-size", "16", "--out", str(out),
    )
    rows = json.loads(out.read_text())["results"]
    settings = {(r["method"], r["jit"], r["augment"]) for r in rows}
    assert settings == {("simclr", True, "step"), ("simclr", True, "data")}
    assert {r["backbone"] for r in rows} == {"convnet"}
    for r in rows:
        assert r["rate_median"] > 0 and r["peak_memory_mb"] > 0
    assert "peak MB" in stdout


def test_throughput_of_series_methods(tmp_path):
    out = tmp_path / "series.json"
    run_script("throughput.py", "--methods", "cpc", "wav2vec2", "--jit", "off", "on",
               "--batch-size", "4", "--steps", "2", "--repeats", "1", "--series-length", "24",
               "--series-channels", "3", "--out", str(out))
    rows = json.loads(out.read_text())["results"]
    # XLA cannot compile their steps: only the jit-off rows are measured.
    assert {(r["method"], r["jit"], r["unit"]) for r in rows} == {
        ("cpc", False, "series/s"), ("wav2vec2", False, "series/s")}
    assert all(r["backbone"] == "tcn" and r["rate_median"] > 0 for r in rows)
    from keras_ssl import modalities

    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import throughput

    assert set(throughput.SERIES_METHODS) == set(modalities.get("series").methods)


def test_throughput_of_text_methods(tmp_path):
    out = tmp_path / "text.json"
    # (clm and the other text methods share mlm's path: one child each costs
    # a TensorFlow start.)
    run_script("throughput.py", "--methods", "mlm", "clip", "--batch-size", "4",
               "--steps", "2", "--repeats", "1", "--sequence-length", "16", "--out", str(out))
    rows = json.loads(out.read_text())["results"]
    assert {(r["method"], r["backbone"], r["unit"]) for r in rows} == {
        ("mlm", "bert_tiny", "tokens/s"), ("clip", "resnet18", "pairs/s")}
    assert all(r["rate_median"] > 0 for r in rows)
    from keras_ssl import modalities

    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import throughput

    # TinyBERT distillation is left out: its step's cost is its teacher's.
    for name, table in (("text", throughput.TEXT_METHODS),
                        ("image_text", throughput.PAIR_METHODS)):
        assert table == {method: defaults["backbone"]
                         for method, defaults in modalities.get(name).methods.items()
                         if method != "tinybert"}


def test_throughput_knows_which_methods_default_to_a_vit():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import throughput

    from keras_ssl import modalities

    image = modalities.get("image")
    assert set(throughput.VIT_METHODS) == {
        name for name, defaults in image.methods.items() if defaults["backbone"] == "vit"}
    assert set(throughput.IMAGE_METHODS) >= set(throughput.VIT_METHODS)
    import argparse

    args = argparse.Namespace(
        methods=["simclr", "mae"], precision=None, jit=["off"], augment=["step"],
        backbone="convnet", width_multiplier=0.25, image_size=16, channels=1,
        sequence_length=16, series_length=32, series_channels=1, video_frames=4, video_size=16,
        batch_size=8, steps=2, repeats=1)
    backbones = {s["method"]: s["backbone"] for s in throughput.settings_for(args, gpu=False)}
    assert backbones == {"simclr": "convnet", "mae": "vit"}  # whatever --backbone says


def test_simclr_vs_reference(tmp_path):
    out = tmp_path / "reference.json"
    stdout = run_script(
        "simclr_vs_reference.py", "--configs", "reference", "keras_ssl",
        "--batch-size", "8", "--steps", "2", "--repeats", "1", "--image-size", "16",
        "--out", str(out),
    )
    payload = json.loads(out.read_text())
    assert [r["config"] for r in payload["results"]] == ["reference", "keras_ssl"]
    for row in payload["results"]:
        assert row["matmul_gflops"] > 0 and row["images_per_second"] > 0
        assert row["fraction_of_matmul_rate"] == pytest.approx(
            row["achieved_gflops"] / row["matmul_gflops"])
        assert len(row["loss_per_epoch"]) == 1
    assert "x ref" in stdout


def test_benchmarks_reject_bad_arguments():
    for name in ("simclr_vs_reference.py", "throughput.py"):
        done = subprocess.run(
            [sys.executable, os.path.join(ROOT, "benchmarks", name), "--steps", "1"],
            capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 2 and "--steps must be >= 2" in done.stderr
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "simclr_vs_reference.py"),
         "--configs", "nope"], capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2 and "unknown --configs" in done.stderr


def test_joint_embedding_table(tmp_path):
    out = tmp_path / "joint.json"
    stdout = run_script(
        "joint_embedding.py", "--methods", "simsiam", "moco", "dino", "--backbone", "convnet",
        "--batch-size", "8", "--steps", "2", "--repeats", "1", "--image-size", "16",
        "--out", str(out),
    )
    rows = {r["method"]: r for r in json.loads(out.read_text())["results"]}
    assert set(rows) == {"simsiam", "moco", "dino"}
    assert (rows["simsiam"]["student_views"], rows["simsiam"]["teacher_views"]) == (2, 0)
    assert (rows["dino"]["student_views"], rows["dino"]["teacher_views"]) == (4, 2)
    for r in rows.values():
        assert r["step_seconds"] > 0 and r["floor_seconds"] > 0
        assert r["floor_share"] == pytest.approx(r["floor_seconds"] / r["step_seconds"])
    assert rows["simsiam"]["update_seconds"] == 0  # nothing follows its optimizer step
    assert rows["moco"]["update_seconds"] > 0 and rows["dino"]["update_seconds"] > 0
    assert "floor share" in stdout


def test_streaming_table(tmp_path):
    out = tmp_path / "streaming.json"
    stdout = run_script(
        "streaming.py", "--kinds", "pipeline", "memory", "--image-size", "16", "--files", "64",
        "--shard-size", "32", "--batch-size", "8", "--steps", "2", "--repeats", "1",
        "--memory-files", "64", "160", "--work-dir", str(tmp_path / "work"), "--out", str(out),
    )
    rows = json.loads(out.read_text())["results"]
    assert [(r["kind"], r.get("source"), r["files"]) for r in rows] == [
        ("pipeline", "folder", 64), ("pipeline", "tfrecords", 64),
        ("memory", None, 64), ("memory", None, 160)]
    assert all(r["rate_median"] > 0 for r in rows if r["kind"] == "pipeline")
    assert [r["images"] for r in rows if r["kind"] == "memory"] == [64, 160]
    for r in rows:
        if r["kind"] == "memory":  # sampled during the pass, over the start
            assert r["peak_memory_mb"] >= r["baseline_rss_mb"] > 0
            assert r["growth_mb"] == r["peak_memory_mb"] - r["baseline_rss_mb"]
    assert "peak RSS MB" in stdout
    # Machine-local paths stay out of the results file.
    assert not any("folder" in r or "shards" in r for r in rows)


def test_streaming_trains_from_each_source(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import streaming

    from keras_ssl import datasets

    folder = tmp_path / "jpegs"
    streaming.write_folder(str(folder), 32, 16)
    datasets.write_tfrecords(folder, tmp_path / "shards", shard_size=16, image_size=16,
                             verbose=False)
    row = streaming.run_one({"kind": "train", "image_size": 16, "batch_size": 8, "steps": 2,
                             "cycles": 2, "width_multiplier": 0.125, "folder": str(folder),
                             "shards": str(tmp_path / "shards")})
    # Every source fed the same model in turn, once per cycle; each ratio
    # pairs a streamed fit with the in-memory fit of its cycle.
    assert {s: len(v) for s, v in row["rates"].items()} == {s: 2 for s in streaming.SOURCES}
    assert all(v > 0 for rates in row["rates"].values() for v in rates)
    for source in ("folder", "tfrecords"):
        assert row["ratios"][source] == pytest.approx(
            [r / m for r, m in zip(row["rates"][source], row["rates"]["memory"])])
    table = streaming.format_table([row])
    assert "x in-memory" in table and "2 cycles in 1 process" in table


def test_throughput_of_video_methods(tmp_path):
    out = tmp_path / "video.json"
    run_script("throughput.py", "--methods", "videomae", "frame_order", "--jit", "off",
               "--batch-size", "4", "--steps", "2", "--repeats", "1", "--video-frames", "4",
               "--video-size", "16", "--out", str(out))
    rows = json.loads(out.read_text())["results"]
    assert {(r["method"], r["backbone"], r["unit"]) for r in rows} == {
        ("videomae", "videovit", "clips/s"), ("frame_order", "resnet18", "clips/s")}
    assert all(r["rate_median"] > 0 and r["encoder_params"] > 0 for r in rows)
    from keras_ssl import modalities

    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import throughput

    video = modalities.get("video")
    assert throughput.VIDEO_METHODS == {
        name: defaults["backbone"] for name, defaults in video.methods.items()}
