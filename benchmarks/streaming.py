"""Streaming your own images from disk: is the input pipeline the bottleneck?

Writes a folder of JPEG files (Fashion-MNIST images brought to
`--image-size` and to color, so that decoding costs what a photo of that
size costs), converts it once to TFRecord shards, then measures, each in a
fresh Python process:

* `pipeline`: images per second the input pipeline alone delivers (read,
  decode, resize, batch), from the folder (`datasets.from_directory`) and
  from the shards (`datasets.from_tfrecords`);
* `train`: SimCLR's train-step rate (images per second, `timing.py`) fed
  from memory (the arrays through `datasets.make_dataset`, the library's
  in-memory path), from the folder and from the shards, and each one's
  ratio to the in-memory rate. One process trains one model fed from the
  three sources in turn, `--cycles` times, and each ratio pairs fits made
  seconds apart: this shared machine's speed drifts by more than the
  difference measured (20% between two processes is common), and the
  pairing cancels the drift. `--rounds` such processes. The pipeline
  shares the CPU cores with the train step, so the ratio is what
  streaming costs in practice;
* `memory`: the largest resident set (sampled after every batch) of a
  process that streams one pass over a folder
  of `--memory-files` files (10,000 and 100,000 by default: the files of
  the first folder copied), to show it does not grow with the folder.

    python benchmarks/streaming.py                     # the full table
    python benchmarks/streaming.py --files 2048 --memory-files 1000 4000 --steps 4

Prints a table and writes it as JSON (`--out`).
"""

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile

from timing import measure_in_child
from timing import time_steps

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = ("memory", "folder", "tfrecords")
KINDS = ("train", "pipeline", "memory")


def _peak_rss_mb():
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb():
    """The resident set now (the high-water mark of `_peak_rss_mb` may
    come from start-up and hide later growth)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _peak_rss_mb()  # no /proc: the high-water mark


def write_folder(path, count, image_size, seed=0):
    """`count` color JPEGs of `image_size` px made from Fashion-MNIST."""
    sys.path.insert(0, os.path.join(HERE, ".."))
    import numpy as np
    from PIL import Image

    from keras_ssl import datasets

    try:
        (x, _), _ = datasets.load("fashion_mnist")
    except Exception:  # noqa: BLE001 - any failure: use the embedded digits instead
        (x, _), _ = datasets.load("digits")
    rng = np.random.default_rng(seed)
    os.makedirs(path, exist_ok=True)
    for i in range(count):
        gray = Image.fromarray(x[i % len(x)].squeeze(-1)).resize((image_size, image_size))
        tint = rng.uniform(0.6, 1.0, 3)
        pixels = (np.asarray(gray, "float32")[..., None] * tint).astype("uint8")
        folder = os.path.join(path, f"{i // 1000:03d}")
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(pixels).save(os.path.join(folder, f"{i:06d}.jpg"), quality=90)


def grow_folder(source, path, count):
    """A folder of `count` files: copies of the files of `source`."""
    names = sorted(os.path.join(root, n) for root, _, files in os.walk(source) for n in files)
    os.makedirs(path, exist_ok=True)
    for i in range(count):
        folder = os.path.join(path, f"{i // 1000:04d}")
        os.makedirs(folder, exist_ok=True)
        shutil.copyfile(names[i % len(names)], os.path.join(folder, f"{i:07d}.jpg"))


def _stream(setting):
    from keras_ssl import datasets

    if setting["source"] == "folder":
        return datasets.from_directory(setting["folder"], image_size=setting["image_size"],
                                       channels=3, seed=0, verbose=False)
    return datasets.from_tfrecords(setting["shards"], seed=0)


def run_one(setting):
    sys.path.insert(0, os.path.join(HERE, ".."))
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_ssl import datasets, training

    keras.utils.set_random_seed(0)
    batch_size, steps = setting["batch_size"], setting["steps"]
    result = dict(setting)
    if setting["kind"] == "memory":
        baseline = _current_rss_mb()
        highest = baseline
        stream = datasets.from_directory(setting["folder"], image_size=setting["image_size"],
                                         channels=3, seed=0, verbose=False)
        seen = 0
        for batch in stream.batch(256):
            seen += int(batch.shape[0])
            highest = max(highest, _current_rss_mb())
        # The resident set sampled after every batch of the pass: what
        # streaming holds, whatever the process peaked at while starting.
        result.update(images=seen, peak_memory_mb=highest, baseline_rss_mb=baseline,
                      growth_mb=highest - baseline)
        return result
    if setting["kind"] == "pipeline":
        dataset = _stream(setting).batch(batch_size, drop_remainder=True).repeat()
        iterator = iter(dataset)
        for _ in range(3):  # warm-up: tracing, first files
            next(iterator)
        import time

        rates = []
        for _ in range(setting["repeats"]):
            start = time.perf_counter()
            for _ in range(steps):
                next(iterator)
            rates.append(steps * batch_size / (time.perf_counter() - start))
        result.update(unit="img/s", rate_median=statistics.median(rates), rate_runs=rates)
        return result
    # One process, one model, one compiled train step, fed in turn from
    # memory, the folder and the shards, `cycles` times: each cycle's
    # ratio pairs sources measured seconds apart, so the drift of this
    # shared machine's speed (often 20% between two processes) cancels.
    size = setting["image_size"]
    encoder = training.build_encoder("resnet18", (size, size, 3), setting["width_multiplier"])
    model = training.build_method("simclr", encoder, seed=0)
    model.compile(optimizer="auto", jit_compile=False)
    stream = datasets.from_directory(setting["folder"], image_size=size, channels=3,
                                     shuffle=False, verbose=False)
    x = np.stack(list(stream.take(batch_size * steps).as_numpy_iterator()))
    feeds = {"memory": datasets.make_dataset(x, batch_size=batch_size, drop_remainder=True,
                                             seed=0)}
    for source in SOURCES[1:]:
        feeds[source] = _stream(dict(setting, source=source)).repeat().batch(
            batch_size, drop_remainder=True).take(steps).prefetch(tf.data.AUTOTUNE)
    rates = {source: [] for source in SOURCES}
    for source in SOURCES:  # warm-up: tracing, first files
        time_steps(model, feeds[source], 0)
    for _ in range(setting["cycles"]):
        for source in SOURCES:
            step_seconds, _ = time_steps(model, feeds[source], 1)
            rates[source].append(batch_size / step_seconds[0])
    result.update(unit="img/s", rates=rates,
                  ratios={source: [r / m for r, m in zip(rates[source], rates["memory"])]
                          for source in SOURCES[1:]},
                  peak_memory_mb=_peak_rss_mb())
    return result


def format_table(rows):
    lines = []
    train = [r for r in rows if r["kind"] == "train"]
    if train:
        # Each ratio pairs a streamed fit with the in-memory fit of the same
        # cycle in the same process; the table gives their median and the
        # middle half of them (25th to 75th percentile).
        cycles = sum(len(r["rates"]["memory"]) for r in train)
        lines += [f"{'SimCLR fed from':<16}{'median img/s':>14}{'x in-memory':>13}"
                  f"{'middle half':>15}", "-" * 58]
        for source in SOURCES:
            rates = [v for r in train for v in r["rates"][source]]
            if source == "memory":
                lines.append(f"{source:<16}{statistics.median(rates):>14.1f}{1:>13.3f}")
                continue
            ratios = sorted(v for r in train for v in r["ratios"][source])
            low, _, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 \
                else (ratios[0],) * 3
            lines.append(f"{source:<16}{statistics.median(rates):>14.1f}"
                         f"{statistics.median(ratios):>13.3f}{f'{low:.3f}-{high:.3f}':>15}")
        lines += [f"(x in-memory: each streamed fit over the in-memory fit of the same cycle, "
                  f"{cycles} cycles in {len(train)} process(es))", ""]
    pipeline = [r for r in rows if r["kind"] == "pipeline"]
    if pipeline:
        lines += [f"{'pipeline alone':<16}{'median img/s':>14}", "-" * 30]
        lines += [f"{r['source']:<16}{r['rate_median']:>14.1f}" for r in pipeline]
        lines.append("")
    memory = [r for r in rows if r["kind"] == "memory"]
    if memory:
        lines += [f"{'files in folder':<16}{'peak RSS MB':>13}{'x smallest':>12}"
                  f"{'growth MB':>11}", "-" * 52]
        smallest = memory[0]["peak_memory_mb"]
        lines += [f"{r['files']:<16}{r['peak_memory_mb']:>13.0f}"
                  f"{r['peak_memory_mb'] / smallest:>12.3f}{r['growth_mb']:>11.0f}"
                  for r in memory]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--files", type=int, default=4096,
                        help="JPEG files in the folder the rates are measured on")
    parser.add_argument("--shard-size", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--width-multiplier", type=float, default=0.25)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3,
                        help="train rates: processes, each measuring --cycles cycles")
    parser.add_argument("--cycles", type=int, default=5,
                        help="train rates: fits from memory, folder and shards in turn, "
                             "per process")
    parser.add_argument("--memory-files", type=int, nargs="*", default=[10000, 100000])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS,
                        help="which measurements (default: all)")
    parser.add_argument("--work-dir", default=None,
                        help="where the image folders are written (default: a temporary one)")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "streaming.json"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(run_one(json.loads(args.child))))
        return 0
    if args.steps < 2:
        parser.error("--steps must be >= 2")
    if args.files < args.batch_size * args.steps:
        parser.error(f"--files must be >= --batch-size x --steps ({args.batch_size * args.steps})")
    sys.path.insert(0, os.path.join(HERE, ".."))
    from keras_ssl import datasets

    work = args.work_dir or tempfile.mkdtemp(prefix="keras-ssl-streaming-")
    folder, shards = os.path.join(work, "jpegs"), os.path.join(work, "shards")
    print(f"writing {args.files} JPEG files of {args.image_size} px to {folder} ...", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    write_folder(folder, args.files, args.image_size)
    datasets.write_tfrecords(folder, shards, shard_size=args.shard_size,
                             image_size=args.image_size, channels=3, image_format="jpeg",
                             overwrite=True, verbose=False)
    common = {"image_size": args.image_size, "batch_size": args.batch_size,
              "steps": args.steps, "repeats": args.repeats, "cycles": args.cycles,
              "folder": folder, "shards": shards,
              "width_multiplier": args.width_multiplier, "files": args.files}
    script = os.path.abspath(__file__)
    rows = []
    for round_ in range(args.rounds) if "train" in args.kinds else ():
        rows.append(measure_in_child(
            script, dict(common, kind="train", round=round_),
            f"simclr fed from memory, folder and shards in turn (process {round_ + 1} of "
            f"{args.rounds})"))
    for source in SOURCES[1:] if "pipeline" in args.kinds else ():
        rows.append(measure_in_child(script, dict(common, kind="pipeline", source=source),
                                     f"the {source} pipeline alone"))
    for count in args.memory_files if "memory" in args.kinds else ():
        big = os.path.join(work, f"copies_{count}")
        if not os.path.exists(big):
            print(f"copying to a folder of {count} files ...", flush=True)
            grow_folder(folder, big, count)
        rows.append(measure_in_child(script, dict(common, kind="memory", folder=big,
                                                  files=count),
                                     f"peak memory streaming {count} files"))
    if not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)
    for row in rows:  # machine-local paths stay out of the results file
        row.pop("folder", None)
        row.pop("shards", None)
    print()
    print(format_table(rows))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"machine": {"cpu_count": os.cpu_count(), "machine": platform.machine()},
                   "results": rows}, f, indent=2)
        f.write("\n")
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
