"""keras_ssl's SimCLR against a straightforward reference implementation.

The reference is written the way the Keras example "Semi-supervised image
classification using contrastive pretraining with SimCLR" does it:
augmentation layers inside the model, a plain GradientTape step, cosine
similarities and cross-entropy in both directions, no XLA, no tf.data tuning.
Both use the same encoder, batch and image size.

Each configuration runs in its own process (peak memory is that process's
maximum resident set size); a warm-up fit is excluded and the median of
several timed fits is reported. Also printed: the machine's float32 matmul
rate, the training FLOP rate each configuration achieves (FLOPs counted with
TensorFlow's profiler on the encoder's forward pass; a training step is
counted as 3x forward over 2 views), and the cost of augmentation.

    python benchmarks/simclr_vs_reference.py              # table + JSON
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CONFIGS = {
    "reference": {"impl": "reference"},
    "keras_ssl": {"impl": "keras_ssl"},
    "keras_ssl_no_augmentation": {"impl": "keras_ssl", "augment": False},
}


def build_reference(encoder, image_shape, temperature, seed):
    """SimCLR as the Keras example writes it (a plain keras.Model)."""
    import keras
    import tensorflow as tf

    class ReferenceSimCLR(keras.Model):
        def __init__(self):
            super().__init__()
            self.augmenter = keras.Sequential([
                keras.Input(image_shape),
                keras.layers.RandomFlip("horizontal", seed=seed),
                keras.layers.RandomTranslation(0.2, 0.2, seed=seed),
                keras.layers.RandomZoom((-0.5, 0.0), (-0.5, 0.0), seed=seed),
                keras.layers.RandomBrightness(0.3, value_range=(0, 255), seed=seed),
                keras.layers.RandomContrast(0.3, value_range=(0, 255), seed=seed),
            ])
            self.encoder = encoder
            width = encoder.output_shape[-1]
            self.projection_head = keras.Sequential([
                keras.Input((width,)),
                keras.layers.Dense(width, activation="relu"),
                keras.layers.Dense(128),
            ])
            self.loss_tracker = keras.metrics.Mean(name="loss")

        @property
        def metrics(self):
            return [self.loss_tracker]

        def contrastive_loss(self, p1, p2):
            p1 = tf.math.l2_normalize(p1, axis=1)
            p2 = tf.math.l2_normalize(p2, axis=1)
            sims = tf.matmul(p1, p2, transpose_b=True) / temperature
            labels = tf.range(tf.shape(p1)[0])
            loss_12 = keras.losses.sparse_categorical_crossentropy(labels, sims, from_logits=True)
            loss_21 = keras.losses.sparse_categorical_crossentropy(
                labels, tf.transpose(sims), from_logits=True)
            return (loss_12 + loss_21) / 2

        def train_step(self, images):
            images = tf.cast(images, "float32")
            a = self.augmenter(images, training=True)
            b = self.augmenter(images, training=True)
            with tf.GradientTape() as tape:
                p1 = self.projection_head(self.encoder(a, training=True), training=True)
                p2 = self.projection_head(self.encoder(b, training=True), training=True)
                loss = tf.reduce_mean(self.contrastive_loss(p1, p2))
            weights = self.encoder.trainable_weights + self.projection_head.trainable_weights
            self.optimizer.apply(tape.gradient(loss, weights), weights)
            self.loss_tracker.update_state(loss)
            return {"loss": self.loss_tracker.result()}

    return ReferenceSimCLR()


def forward_flops(encoder, image_shape):
    """FLOPs of one image's forward pass through `encoder` (TF profiler)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    fn = tf.function(lambda x: encoder(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec((1,) + tuple(image_shape), tf.float32))
    frozen = convert_variables_to_constants_v2(concrete)
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    info = tf.compat.v1.profiler.profile(graph=frozen.graph, options=opts)
    return int(info.total_float_ops)


def matmul_gflops(size=1024, repeats=20):
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    mm = tf.function(lambda x, y: tf.matmul(x, y))
    mm(a, b).numpy()
    rates = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            c = mm(a, b)
        c.numpy()
        rates.append(2 * size**3 * repeats / (time.perf_counter() - start) / 1e9)
    return statistics.median(rates)


def worker(name, args):
    """Run one configuration in this process; print a JSON line."""
    sys.path.insert(0, ROOT)
    import resource

    import keras
    import numpy as np
    import tensorflow as tf

    import keras_ssl

    cfg = CONFIGS[name]
    keras.utils.set_random_seed(0)
    shape = (args.image_size, args.image_size, args.channels)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.batch_size * args.steps,) + shape).astype("uint8")
    encoder = keras_ssl.backbones.ResNet18(input_shape=shape, width_multiplier=args.width)
    flops = forward_flops(encoder, shape)
    if cfg["impl"] == "reference":
        model = build_reference(encoder, shape, 0.1, 0)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    else:
        augmenter = None if cfg.get("augment", True) else keras.layers.Identity()
        model = keras_ssl.methods.SimCLR(encoder, augmenter=augmenter, temperature=0.1, seed=0)
        model.compile(optimizer="auto", jit_compile=cfg.get("jit_compile", False))
    ds = tf.data.Dataset.from_tensor_slices(x).batch(args.batch_size, drop_remainder=True)
    ds = ds.cache().prefetch(tf.data.AUTOTUNE)
    model.fit(ds.take(2), epochs=1, verbose=0)
    times = []
    losses = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        history = model.fit(ds, epochs=1, verbose=0)
        times.append(time.perf_counter() - start)
        losses.append(float(history.history["loss"][-1]))
    step = statistics.median(times) / args.steps
    train_flops = 3 * 2 * flops * args.batch_size  # 2 views, backward ~2x forward
    print(json.dumps({
        "config": name,
        "images_per_second": args.batch_size / step,
        "step_seconds": step,
        "forward_gflops_per_image": flops / 1e9,
        "achieved_gflops": train_flops / step / 1e9,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "loss_per_epoch": losses,
    }))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    parser.add_argument("--out", default=os.path.join(HERE, "results", "simclr_vs_reference.json"))
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args)
        return
    rows = []
    for name in args.configs:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", name,
               "--image-size", str(args.image_size), "--channels", str(args.channels),
               "--batch-size", str(args.batch_size), "--width", str(args.width),
               "--steps", str(args.steps), "--repeats", str(args.repeats)]
        out = subprocess.run(cmd, capture_output=True, text=True,
                             env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        if out.returncode != 0:
            raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    sys.path.insert(0, ROOT)
    matmul = matmul_gflops()
    by_name = {r["config"]: r for r in rows}
    ref = by_name.get("reference")
    print(f"float32 matmul rate of this machine: {matmul:.1f} GFLOP/s")
    print(f"{'config':<28}{'img/s':>9}{'x ref':>8}{'GFLOP/s':>10}{'% matmul':>10}{'peak MB':>9}")
    for r in rows:
        ratio = r["images_per_second"] / ref["images_per_second"] if ref else float("nan")
        r["ratio_to_reference"] = ratio
        r["fraction_of_matmul_rate"] = r["achieved_gflops"] / matmul
        print(f"{r['config']:<28}{r['images_per_second']:>9.1f}{ratio:>8.2f}"
              f"{r['achieved_gflops']:>10.1f}{100 * r['fraction_of_matmul_rate']:>9.0f}%"
              f"{r['peak_rss_mb']:>9.0f}")
    if "keras_ssl" in by_name and "keras_ssl_no_augmentation" in by_name:
        cost = 1 - by_name["keras_ssl"]["images_per_second"] / \
            by_name["keras_ssl_no_augmentation"]["images_per_second"]
        print(f"augmentation share of step time: {100 * cost:.1f}%")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
                   "matmul_gflops": matmul, "settings": vars(args), "results": rows}, f, indent=2)
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
