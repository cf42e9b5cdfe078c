"""Timing helpers shared by the benchmark scripts.

Steps are timed inside `fit`, from the end of its first step to the end of
its last: a `fit` call also builds a data iterator and tears it down, which
on this project's shared 2-core machine adds 0 to 1.5 s per call at random
(seen as fits of 6 steps of 0.63 s lasting 3.8 s or 5.1 s). That overhead is
paid once per epoch, not per step, so it is left out of step throughput.
"""

import json
import os
import statistics
import subprocess
import sys
import time


def time_steps(model, dataset, repeats):
    """Per-step timings of `repeats` one-epoch fits of `model`.

    A warm-up fit on two batches (tracing, XLA compilation, first steps)
    comes first and is not timed. Returns `(step_seconds, losses)`: for each
    timed fit, the mean wall time of its steps after the first, and the
    loss it logged. `dataset` must yield at least 2 batches.
    """
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends = []

        def on_train_batch_end(self, batch, logs=None):
            # Reading a value forces the step to finish before the clock.
            float((logs or {}).get("loss", 0.0))
            self.ends.append(time.perf_counter())

    model.fit(dataset.take(2), epochs=1, verbose=0)
    step_seconds, losses = [], []
    for _ in range(repeats):
        timer = StepTimer()
        history = model.fit(dataset, epochs=1, verbose=0, callbacks=[timer])
        if len(timer.ends) < 2:
            raise ValueError("time_steps needs a dataset of at least 2 batches.")
        step_seconds.append((timer.ends[-1] - timer.ends[0]) / (len(timer.ends) - 1))
        losses.append(float(history.history["loss"][-1]))
    return step_seconds, losses


def matmul_gflops(size=1024, repeats=20, rounds=5):
    """The float32 matrix-product rate TensorFlow reaches here (median)."""
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    mm = tf.function(lambda x, y: tf.matmul(x, y))
    mm(a, b).numpy()
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            c = mm(a, b)
        c.numpy()
        rates.append(2 * size**3 * repeats / (time.perf_counter() - start) / 1e9)
    return statistics.median(rates)


def measure_in_child(script, setting, label):
    """Run `script --child SETTING_JSON` in a fresh Python process (so one
    setting's memory and compiled graphs stay out of the next one's
    numbers) and return the dict it prints on its `RESULT ` line."""
    print(f"measuring {label} ...", flush=True)
    done = subprocess.run(
        [sys.executable, os.path.abspath(script), "--child", json.dumps(setting)],
        capture_output=True, text=True,
    )
    results = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode != 0 or not results:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"measuring {label} failed:\n{tail}")
    return json.loads(results[-1][len("RESULT "):])
