"""Joint-embedding methods: train step against the encoder's own floor.

For each method (SimCLR, MoCo, BYOL, SimSiam, Barlow Twins, VICReg, DINO),
a fresh Python process builds it around the same encoder and measures on
random images, with the views made once and cached (augmentation is not
part of the timed step, so the step is compared with the network work it
has to do):

* `step`: one training step through `fit` (`timing.time_steps`);
* `floor`: the encoder work the method cannot avoid, in one compiled
  function: a forward and backward pass of the encoder for every view the
  student sees (2, or 2 + local crops for DINO), plus a forward pass for
  every view a momentum teacher sees (2 for MoCo, BYOL, DINO); heads,
  losses and the optimizer are left out;
* `update`: the state written after the optimizer step, alone, in a
  compiled function: the teacher's EMA (MoCo, BYOL, DINO), MoCo's
  enqueue, DINO's center.

`floor share` = floor / step: the part of the step that is encoder work
(1.0 would be a step with no overhead at all). `update share` = update /
step. Step images/s come with them, so the methods can be compared.

    python benchmarks/joint_embedding.py                   # every method
    python benchmarks/joint_embedding.py --methods byol dino --repeats 3

Prints a table and writes it as JSON (`--out`). Run it on an otherwise
idle machine; timings are medians of `--repeats` runs.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

from timing import measure_in_child
from timing import time_steps

HERE = os.path.dirname(os.path.abspath(__file__))
METHODS = ("simclr", "moco", "byol", "simsiam", "barlow", "vicreg", "dino")
TEACHER_VIEWS = {"moco": 2, "byol": 2, "dino": 2}


def _median_seconds(fn, repeats, calls):
    """Median over `repeats` of the mean time of `calls` calls of `fn`."""
    fn()  # trace
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            out = fn()
        float(out)  # wait for the last call
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def run_one(setting):
    sys.path.insert(0, os.path.join(HERE, ".."))
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_ssl import training

    keras.utils.set_random_seed(setting["seed"])
    batch, steps, size = setting["batch_size"], setting["steps"], setting["image_size"]
    rng = np.random.default_rng(setting["seed"])
    x = rng.integers(0, 256, (batch * steps, size, size, setting["channels"]), dtype="uint8")
    encoder = training.build_encoder(setting["backbone"], x.shape[1:],
                                     setting["width_multiplier"])
    kwargs = {"local_crops": setting["local_crops"]} if setting["method"] == "dino" else {}
    model = training.build_method(setting["method"], encoder, seed=setting["seed"], **kwargs)
    model.compile(optimizer="auto", jit_compile=False)
    views = model.augment_dataset(tf.data.Dataset.from_tensor_slices(x).batch(
        batch, drop_remainder=True)).cache()
    for _ in views:  # fill the cache: no augmentation inside the timed steps
        pass
    step_seconds, _ = time_steps(model, views.prefetch(tf.data.AUTOTUNE), setting["repeats"])
    step = statistics.median(step_seconds)

    # The floor: encoder forward + backward for every student view, forward
    # for every teacher view, at the sizes the encoder sees them.
    (first,) = next(iter(views))
    first = [tf.cast(v, "float32") for v in first]
    input_size = tuple(encoder.input_shape[1:3])
    student_views = [v if tuple(v.shape[1:3]) == input_size else tf.image.resize(v, input_size)
                     for v in first]
    teacher_views = student_views[:TEACHER_VIEWS.get(setting["method"], 0)]

    @tf.function
    def floor():
        total = 0.0
        with tf.GradientTape() as tape:
            for v in student_views:
                total += tf.reduce_sum(encoder(v, training=True))
        grads = tape.gradient(total, encoder.trainable_variables)
        for v in teacher_views:
            total += tf.reduce_sum(encoder(v, training=True))
        return total + tf.add_n([tf.reduce_sum(g) for g in grads])

    floor_seconds = _median_seconds(floor, setting["repeats"], steps)

    update_seconds = 0.0
    if model.teacher is not None:
        dim = model.queue.shape[1] if getattr(model, "queue", None) is not None else None

        @tf.function
        def update():
            if dim is not None:
                model.set_pending("keys", tf.random.normal((batch, dim)))
            if setting["method"] == "dino":
                model.set_pending("center", tf.random.normal((model.output_dim,)))
            model.after_update()
            return tf.constant(0.0)

        update_seconds = _median_seconds(update, setting["repeats"], steps)

    result = dict(setting)
    result.update({
        "encoder_params": int(encoder.count_params()),
        "student_views": len(student_views),
        "teacher_views": len(teacher_views),
        "step_seconds": step,
        "step_runs": step_seconds,
        "images_per_second": batch / step,
        "floor_seconds": floor_seconds,
        "floor_share": floor_seconds / step,
        "update_seconds": update_seconds,
        "update_share": update_seconds / step,
    })
    return result


def format_table(rows):
    header = (f"{'method':<9}{'views s/t':>10}{'img/s':>8}{'step s':>8}{'floor s':>9}"
              f"{'floor share':>13}{'update ms':>11}{'update share':>14}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['method']:<9}{str(r['student_views']) + '/' + str(r['teacher_views']):>10}"
            f"{r['images_per_second']:>8.0f}{r['step_seconds']:>8.3f}{r['floor_seconds']:>9.3f}"
            f"{r['floor_share']:>13.2f}{1000 * r['update_seconds']:>11.1f}"
            f"{100 * r['update_share']:>13.1f}%"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--width-multiplier", type=float, default=0.25)
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--local-crops", type=int, default=2,
                        help="DINO's local crops (default 2)")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "joint_embedding.json"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(run_one(json.loads(args.child))))
        return
    if args.batch_size < 2 or args.steps < 2:
        parser.error("--batch-size and --steps must be >= 2")
    rows = []
    for method in args.methods:
        setting = {
            "method": method, "backbone": args.backbone,
            "width_multiplier": args.width_multiplier, "image_size": args.image_size,
            "channels": args.channels, "batch_size": args.batch_size,
            "local_crops": args.local_crops, "steps": args.steps, "repeats": args.repeats,
            "seed": 0,
        }
        rows.append(measure_in_child(__file__, setting, method))
    table = format_table(rows)
    print(table)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    import tensorflow as tf

    with open(args.out, "w") as f:
        json.dump({
            "command": "python benchmarks/joint_embedding.py " + " ".join(argv or sys.argv[1:]),
            "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                        "tensorflow": tf.__version__},
            "results": rows,
            "table": table.splitlines(),
        }, f, indent=2)
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
