"""Train-step throughput and peak memory of keras_ssl's pretraining methods.

For every method and setting, a fresh Python process builds the method at
fixed sizes on random data, runs a warm-up `fit` (tracing, XLA compilation
and first steps, excluded), then times the steps of several one-epoch fits
(`timing.py`) and reports the median and best images (or tokens) per
second (pairs for CLIP) and the process's peak memory (peak RSS on CPU; peak device memory
on a GPU). One process per setting keeps
one run's memory and compiled graphs out of the next one's numbers.

Settings (each a column of the table):

* `jit`: `compile(jit_compile=False)` or `True` (XLA);
* `augment`: SimCLR's views made inside `train_step` (`step`) or in the
  `tf.data` pipeline by `SimCLR.augment_dataset` (`data`); the other
  methods have no augmentation to move;
* `precision`: `float32`, and `mixed_float16` when a GPU is present
  (mixed precision on a CPU only emulates float16).

    python benchmarks/throughput.py                      # the full table
    python benchmarks/throughput.py --methods simclr --jit off on \
        --augment step data --steps 8 --repeats 3
    python benchmarks/throughput.py --methods mlm sop clm simcse --batch-size 64   # tokens/s
    python benchmarks/throughput.py --methods cpc wav2vec2 --batch-size 32   # series/s
    python benchmarks/throughput.py --methods videomae frame_order --batch-size 32   # clips/s
    python benchmarks/throughput.py --methods clip --batch-size 128   # image-caption pairs/s

Prints a table and writes it as JSON (`--out`). `median` and `best` are
over the timed fits; `ratio` divides best rates by the same method's
float32, XLA-off, augment-in-step row (best runs, because on a shared
virtual machine the timed fits fall into a fast and a throttled cluster and
the best run is the least disturbed). `default` marks what `compile()` and
`fit` do without options on this machine.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import sys

from timing import measure_in_child
from timing import time_steps

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE_METHODS = ("simclr", "rotation", "mae", "simmim", "beit", "denoising")
# Methods whose default backbone is a ViT (the image modality's registry;
# a test keeps the two in step without importing TensorFlow here).
VIT_METHODS = ("mae", "simmim", "beit")
SERIES_METHODS = ("cpc", "wav2vec2")
# Text methods and their default backbones (the text modality's registry).
TEXT_METHODS = {"mlm": "bert_tiny", "sop": "bert_tiny", "clm": "gpt_tiny",
                "simcse": "bert_tiny"}
# Video methods and their default backbones (the video modality's registry):
# VideoMAE's VideoViT on the clip, frame order's ResNet-18 on each frame.
VIDEO_METHODS = {"videomae": "videovit", "frame_order": "resnet18"}
# CLIP on the emoji pairs as its recipes train (the image_text modality's
# defaults: ResNet-18 at 64 px, BERT-Tiny text tower, 32 tokens a caption).
PAIR_METHODS = {"clip": "resnet18"}
# Methods whose step XLA cannot compile (tokenization in the step; the
# data-dependent shapes of masked positions).
NO_JIT = tuple(TEXT_METHODS) + SERIES_METHODS + tuple(PAIR_METHODS)
ALL_METHODS = (IMAGE_METHODS + tuple(TEXT_METHODS) + SERIES_METHODS + tuple(VIDEO_METHODS)
               + tuple(PAIR_METHODS))


def _peak_memory_mb(gpu):
    if gpu:
        import tensorflow as tf

        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(setting):
    """Measure one setting in this process; returns a result dict."""
    sys.path.insert(0, os.path.join(HERE, ".."))
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_ssl import training

    gpu = bool(tf.config.list_physical_devices("GPU"))
    keras.mixed_precision.set_global_policy(setting["precision"])
    keras.utils.set_random_seed(setting["seed"])
    batch_size, steps = setting["batch_size"], setting["steps"]
    baseline_mb = _peak_memory_mb(False)
    if setting["method"] in TEXT_METHODS:
        model, dataset, items = _text_model_and_data(setting)
        unit = "tokens/s"
    elif setting["method"] in SERIES_METHODS:
        model, dataset, items = _series_model_and_data(setting)
        unit = "series/s"
    elif setting["method"] in VIDEO_METHODS:
        model, dataset, items = _video_model_and_data(setting)
        unit = "clips/s"
    elif setting["method"] in PAIR_METHODS:
        model, dataset, items = _pairs_model_and_data(setting)
        unit = "pairs/s"
    else:
        size, channels = setting["image_size"], setting["channels"]
        rng = np.random.default_rng(setting["seed"])
        x = rng.integers(0, 256, (batch_size * steps, size, size, channels), dtype="uint8")
        backbone = setting["backbone"]
        encoder = training.build_encoder(backbone, x.shape[1:], setting["width_multiplier"])
        kwargs = {}
        if setting["method"] == "beit":
            # The step's cost does not depend on what the tokenizer learnt.
            from keras_ssl.methods import VQTokenizer

            kwargs["tokenizer"] = VQTokenizer(patch_size=encoder.patch_size)
        model = training.build_method(setting["method"], encoder, seed=setting["seed"], **kwargs)
        dataset = tf.data.Dataset.from_tensor_slices(x).batch(batch_size, drop_remainder=True)
        dataset = dataset.cache()
        if setting["augment"] == "data":
            dataset = model.augment_dataset(dataset)
        else:
            dataset = dataset.prefetch(tf.data.AUTOTUNE)
        items = batch_size
        unit = "img/s"
        setting["encoder_params"] = int(encoder.count_params())
    model.compile(optimizer="auto", jit_compile=setting["jit"])
    if gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
    step_seconds, _ = time_steps(model, dataset, setting["repeats"])
    rates = [items / s for s in step_seconds]
    result = dict(setting)
    result.update(
        {
            "unit": unit,
            "rate_median": statistics.median(rates),
            "rate_runs": rates,
            "device": "GPU" if gpu else "CPU",
            "peak_memory_mb": _peak_memory_mb(gpu),
            "memory_kind": "peak GPU memory" if gpu else "peak RSS of the process",
            "baseline_rss_mb": baseline_mb,
        }
    )
    return result


def _text_model_and_data(setting):
    import tensorflow as tf

    from keras_ssl import datasets, modalities, text

    batch_size, steps = setting["batch_size"], setting["steps"]
    length = setting["sequence_length"]
    lines = datasets.read_texts(min_length=20)[: batch_size * steps * 4]
    tokenizer = text.train_wordpiece(lines, vocabulary_size=8000)
    config = {"method": setting["method"], "backbone": setting["backbone"],
              "options": {"sequence_length": length}}
    model = modalities.text.TEXT.build_method(config, tokenizer)
    setting["encoder_params"] = int(model.backbone.count_params())
    dataset = tf.data.Dataset.from_tensor_slices(lines[: batch_size * steps])
    dataset = dataset.batch(batch_size, drop_remainder=True).cache().prefetch(tf.data.AUTOTUNE)
    return model, dataset, batch_size * length


def _series_model_and_data(setting):
    import numpy as np
    import tensorflow as tf

    from keras_ssl import backbones, modalities

    batch_size, steps = setting["batch_size"], setting["steps"]
    rng = np.random.default_rng(setting["seed"])
    x = rng.normal(size=(batch_size * steps, setting["series_length"],
                         setting["series_channels"])).astype("float32")
    encoder = backbones.TemporalConvNet(input_shape=(None, setting["series_channels"]),
                                        filters=(64, 64, 128), kernel_sizes=3, strides=(1, 2, 2))
    setting["encoder_params"] = int(encoder.count_params())
    model = modalities.series.method_class(setting["method"])(encoder, seed=setting["seed"])
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(batch_size, drop_remainder=True)
    return model, dataset.cache().prefetch(tf.data.AUTOTUNE), batch_size


def _video_model_and_data(setting):
    """The video modality's default method and encoder (its `build_model`
    path) on random clips of `video_frames` x `video_size` x `video_size`."""
    import numpy as np
    import tensorflow as tf

    from keras_ssl.modalities import video

    batch_size, steps = setting["batch_size"], setting["steps"]
    rng = np.random.default_rng(setting["seed"])
    shape = (setting["video_frames"], setting["video_size"], setting["video_size"], 1)
    x = rng.integers(0, 256, (batch_size * steps,) + shape, dtype="uint8")
    encoder = video.build_encoder(setting["backbone"], shape, setting["width_multiplier"])
    setting["encoder_params"] = int(encoder.count_params())
    model = video.method_class(setting["method"])(encoder, seed=setting["seed"])
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(batch_size, drop_remainder=True)
    return model, dataset.cache().prefetch(tf.data.AUTOTUNE), batch_size


def _pairs_model_and_data(setting):
    """CLIP as the image_text modality builds it, on emoji image-caption
    pairs of its training split (repeated to fill the steps)."""
    import tensorflow as tf

    from keras_ssl.modalities.image_text import IMAGE_TEXT

    config = IMAGE_TEXT.configure({
        "method": "clip", "dataset": None, "backbone": setting["backbone"], "seed": 0,
        "batch_size": setting["batch_size"], "options": {}, "precision": setting["precision"]})
    data = IMAGE_TEXT.load_data(config)
    model = IMAGE_TEXT.build_model(config, data)
    setting["encoder_params"] = int(model.image_encoder.count_params()
                                    + model.backbone.count_params())
    train = data["train"]
    dataset = (train.dataset.repeat().take(setting["batch_size"] * setting["steps"])
               .batch(setting["batch_size"], drop_remainder=True).cache()
               .prefetch(tf.data.AUTOTUNE))
    return model, dataset, setting["batch_size"]


def settings_for(args, gpu):
    precisions = args.precision or (["float32", "mixed_float16"] if gpu else ["float32"])
    for method in args.methods:
        for precision in precisions:
            for jit in args.jit:
                if method in NO_JIT and jit == "on":
                    continue  # see NO_JIT
                augments = args.augment if method == "simclr" else ["step"]
                for augment in augments:
                    yield {
                        "method": method,
                        "backbone": TEXT_METHODS[method] if method in TEXT_METHODS else (
                            "tcn" if method in SERIES_METHODS else (
                                VIDEO_METHODS[method] if method in VIDEO_METHODS else (
                                    PAIR_METHODS[method] if method in PAIR_METHODS else (
                                        "vit" if method in VIT_METHODS else args.backbone)))),
                        "width_multiplier": args.width_multiplier,
                        "image_size": args.image_size,
                        "channels": args.channels,
                        "sequence_length": args.sequence_length,
                        "series_length": args.series_length,
                        "series_channels": args.series_channels,
                        "video_frames": args.video_frames,
                        "video_size": args.video_size,
                        "batch_size": args.batch_size,
                        "steps": args.steps,
                        "repeats": args.repeats,
                        "jit": jit == "on",
                        "augment": augment if method == "simclr" else "n/a",
                        "precision": precision,
                        "seed": 0,
                    }


def is_default(row, gpu):
    """Whether `row` is what `compile()` and `fit` do without options here."""
    default_jit = gpu and row["method"] not in NO_JIT  # jit_compile="auto"
    return (row["jit"] == default_jit and row["augment"] in ("step", "n/a")
            and row["precision"] == "float32")


def format_table(rows, gpu):
    """The table: median and best rate, ratio of best rates to the same
    method's jit-off, augment-in-step float32 run, peak memory."""
    header = (f"{'method':<12}{'backbone':<10}{'params':>8}{'batch':>6}{'precision':>15}"
              f"{'jit':>5}{'augment':>8}{'median':>10}{'best':>10}{'unit':>9}"
              f"{'ratio':>7}{'peak MB':>9}  default")
    lines = [header, "-" * len(header)]
    base = {}
    for r in rows:
        if not r["jit"] and r["augment"] in ("step", "n/a") and r["precision"] == "float32":
            base[r["method"]] = max(r["rate_runs"])
    for r in rows:
        best = max(r["rate_runs"])
        ref = base.get(r["method"])
        ratio = f"{best / ref:.2f}" if ref else "-"
        lines.append(
            f"{r['method']:<12}{r['backbone']:<10}{r['encoder_params'] or 0:>8}"
            f"{r['batch_size']:>6}{r['precision']:>15}{'on' if r['jit'] else 'off':>5}"
            f"{r['augment']:>8}{r['rate_median']:>10.0f}{best:>10.0f}{r['unit']:>9}"
            f"{ratio:>7}{r['peak_memory_mb']:>9.0f}  {'*' if is_default(r, gpu) else ''}"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(ALL_METHODS),
                        choices=ALL_METHODS)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--width-multiplier", type=float, default=0.25)
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--series-length", type=int, default=128,
                        help="steps of the random series of cpc and wav2vec2")
    parser.add_argument("--series-channels", type=int, default=12)
    parser.add_argument("--video-frames", type=int, default=8,
                        help="frames of the random clips of videomae and frame_order")
    parser.add_argument("--video-size", type=int, default=32,
                        help="frame side of the random clips of videomae and frame_order")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--jit", nargs="+", default=["off", "on"], choices=["off", "on"])
    parser.add_argument("--augment", nargs="+", default=["step", "data"],
                        choices=["step", "data"])
    parser.add_argument("--precision", nargs="+", default=None,
                        choices=["float32", "mixed_float16", "mixed_bfloat16"],
                        help="default: float32, plus mixed_float16 on a GPU")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "throughput.json"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(run_one(json.loads(args.child))))
        return
    if args.batch_size < 2:
        parser.error("--batch-size must be >= 2")
    if args.steps < 2:
        parser.error("--steps must be >= 2 (steps are timed from the end of the first)")

    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))
    rows = []
    for setting in settings_for(args, gpu):
        label = (f"{setting['method']} {setting['precision']} jit={setting['jit']} "
                 f"augment={setting['augment']}")
        rows.append(measure_in_child(__file__, setting, label))
    table = format_table(rows, gpu)
    print(table)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    payload = {
        "command": "python benchmarks/throughput.py " + " ".join(argv or sys.argv[1:]),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "gpu": gpu, "tensorflow": tf.__version__},
        "results": rows,
        "table": table.splitlines(),
    }
    with open(args.out, "w") as f:
        json.dump(payload, f, indent=2)
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
