"""Train-step throughput of keras_ssl's pretraining methods.

Measures images per second of `model.fit` steps at fixed sizes: a warm-up
fit (tracing and first steps) is excluded, then the median over several
timed fits is reported. Prints a table and writes JSON.

    python benchmarks/throughput.py --methods simclr --image-size 28 \
        --channels 1 --batch-size 256 --steps 8 --repeats 3
    python benchmarks/throughput.py --methods mlm --batch-size 64 --out \
        benchmarks/results/throughput_mlm.json     # BERT-Tiny, tokens/s
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_ssl import training  # noqa: E402


def measure(method, backbone, width, image_size, channels, batch_size, steps,
            repeats, jit_compile=False, seed=0):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(batch_size * steps, image_size, image_size, channels))
    x = x.astype("uint8")
    encoder = training.build_encoder(backbone, x.shape[1:], width)
    model = training.build_method(method, encoder, seed=seed)
    model.compile(optimizer="auto", jit_compile=jit_compile)
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(batch_size, drop_remainder=True)
    dataset = dataset.cache().prefetch(tf.data.AUTOTUNE)
    model.fit(dataset.take(2), epochs=1, verbose=0)  # warm-up: tracing
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(dataset, epochs=1, verbose=0)
        rates.append(batch_size * steps / (time.perf_counter() - start))
    return {
        "method": method,
        "backbone": backbone,
        "width_multiplier": width,
        "image_size": image_size,
        "channels": channels,
        "batch_size": batch_size,
        "jit_compile": jit_compile,
        "encoder_params": int(encoder.count_params()),
        "images_per_second_median": statistics.median(rates),
        "images_per_second_runs": rates,
    }


def measure_mlm(batch_size, steps, repeats, sequence_length=64, vocabulary_size=8000, seed=0):
    """Tokens per second of the BERT-Tiny masked-LM train step on Shakespeare."""
    from keras_ssl import backbones, datasets, methods, text

    keras.utils.set_random_seed(seed)
    lines = datasets.read_texts(min_length=20)[: batch_size * steps * 4]
    tokenizer = text.train_wordpiece(lines, vocabulary_size=vocabulary_size)
    model = methods.MaskedLanguageModel(
        backbones.BertTiny(tokenizer.vocabulary_size(), max_sequence_length=sequence_length),
        tokenizer, sequence_length=sequence_length,
    )
    model.compile(optimizer="auto")
    dataset = tf.data.Dataset.from_tensor_slices(lines[: batch_size * steps])
    dataset = dataset.batch(batch_size, drop_remainder=True).cache().prefetch(tf.data.AUTOTUNE)
    model.fit(dataset.take(2), epochs=1, verbose=0)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(dataset, epochs=1, verbose=0)
        rates.append(batch_size * steps * sequence_length / (time.perf_counter() - start))
    return {
        "method": "mlm",
        "backbone": "bert_tiny",
        "batch_size": batch_size,
        "sequence_length": sequence_length,
        "encoder_params": int(model.backbone.count_params()),
        "tokens_per_second_median": statistics.median(rates),
        "tokens_per_second_runs": rates,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["simclr"])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--width-multiplier", type=float, default=0.25)
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jit-compile", action="store_true")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results", "throughput.json"))
    args = parser.parse_args(argv)
    rows = []
    for method in args.methods:
        if method == "mlm":
            rows.append(measure_mlm(args.batch_size, args.steps, args.repeats))
            continue
        rows.append(measure(
            method, "vit" if method == "mae" else args.backbone, args.width_multiplier,
            args.image_size,
            args.channels, args.batch_size, args.steps, args.repeats,
            jit_compile=args.jit_compile,
        ))
    print(f"{'method':<12}{'backbone':<12}{'params':>10}{'batch':>7}{'median rate':>22}")
    for r in rows:
        if "tokens_per_second_median" in r:
            rate = f"{r['tokens_per_second_median']:.1f} tokens/s"
        else:
            rate = f"{r['images_per_second_median']:.1f} img/s"
        print(f"{r['method']:<12}{r['backbone']:<12}{r['encoder_params']:>10}"
              f"{r['batch_size']:>7}{rate:>22}")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    payload = {
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "tensorflow": tf.__version__, "keras": keras.__version__},
        "results": rows,
    }
    with open(args.out, "w") as f:
        json.dump(payload, f, indent=2)
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
