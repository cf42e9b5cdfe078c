"""Continuing from a zoo preset on your own images: does it pay off?

Plays a user who has a folder of their own images and a shipped preset:
the scikit-learn digits (1,797 scanned digits, 8x8, bundled with
scikit-learn) brought to the preset's 28x28 gray and written as PNG files,
one sub-folder per class. Then, with the `keras-ssl` command, each step on
the same folder:

1. `pretrain --init-preset simclr_resnet18_fashion_mnist --images FOLDER`:
   SimCLR continued from the Fashion-MNIST preset;
2. `pretrain --backbone resnet18 --images FOLDER`: the same method and
   encoder from random weights, same epochs and time budget;
3. `probe --run continued --labeled FOLDER --compare scratch`: the continued
   encoder, the preset as it was and the scratch run on one stratified
   80/20 split of the labelled folder.

Pretraining reads the images without their labels, and the probe's test
images are among them, for both runs alike (the preset never saw a digit).

    python benchmarks/continue_from_preset.py                       # the full run
    python benchmarks/continue_from_preset.py --epochs 1 --minutes 0.5   # a smoke run

Prints the probe table and writes it as JSON (`--out`).
"""

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def write_digits(path, size=28):
    """The digits as `size`x`size` gray PNGs, one sub-folder per class."""
    import numpy as np
    from PIL import Image

    from keras_ssl import datasets

    (x_train, y_train), (x_test, y_test) = datasets.load("digits")
    images, labels = np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test])
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = os.path.join(path, f"digit_{int(label)}")
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(image.squeeze(-1)).resize((size, size), Image.BILINEAR).save(
            os.path.join(folder, f"{i:04d}.png"))
    return len(images)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="simclr_resnet18_fashion_mnist")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--minutes", type=float, default=5.0,
                        help="time budget of each pretraining run")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 1.0])
    parser.add_argument("--work-dir", default=None,
                        help="where the folder and runs go (default: a temporary folder)")
    parser.add_argument("--out", default=os.path.join(HERE, "results",
                                                      "continue_from_preset.json"))
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.join(HERE, ".."))
    from keras_ssl import cli, presets, training

    work = args.work_dir or tempfile.mkdtemp(prefix="continue_from_preset_")
    manifest = presets.read_manifest(presets.resolve(args.preset))
    height, _, channels = manifest["input_shape"]
    folder = os.path.join(work, "digits")
    count = write_digits(folder, size=height)
    runs = {"continued": os.path.join(work, "continued"), "scratch": os.path.join(work, "scratch")}
    common = ["--method", "simclr", "--images", folder, "--epochs", str(args.epochs),
              "--batch-size", str(args.batch_size), "--learning-rate", str(args.learning_rate),
              "--budget-minutes", str(args.minutes), "--no-export", "--overwrite"]
    extra = {"continued": ["--init-preset", args.preset],
             "scratch": ["--backbone", "resnet18", "--image-size", str(height),
                         "--channels", str(channels)]}
    summaries = {}
    for name, run in runs.items():
        print(f"Pretraining ({name}) ...", flush=True)
        with contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(["pretrain", *common, *extra[name], "--out", run])
        if code != 0:
            raise SystemExit(f"pretrain ({name}) failed with exit status {code}")
        summaries[name] = training.read_json(os.path.join(run, "pretrain.json"))
    code = cli.main(["probe", "--run", runs["continued"], "--labeled", folder,
                     "--compare", runs["scratch"], "--fractions",
                     *map(str, args.fractions)])
    if code != 0:
        raise SystemExit(f"probe failed with exit status {code}")
    probe = training.read_json(os.path.join(runs["continued"], "probe.json"))
    compared = list(probe.pop("compared").values())
    # The plain baselines on the same split: the encoder left random, and
    # logistic regression on the raw pixels.
    import keras

    from keras_ssl.datasets import streams
    from keras_ssl.modalities.base import linear_probes

    data, _ = streams.load_labelled_images(folder, image_size=(height, height),
                                           channels=channels, seed=0)
    keras.utils.set_random_seed(1)
    random_encoder = training.build_encoder("resnet18", (height, height, channels), 0.25)
    rows = {"continued from the preset": probe, "the preset as it was": compared[0],
            "from random weights, same budget": compared[1],
            "random-init encoder (same architecture)": training.probe(
                random_encoder, folder, fractions=args.fractions, data=data),
            "logistic regression on raw pixels": linear_probes(
                lambda x: x.reshape(len(x), -1).astype("float32") / 255.0, data,
                args.fractions)}
    result = {
        "preset": args.preset, "images": count, "epochs": args.epochs,
        "budget_minutes": args.minutes, "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "pretraining": {name: {key: s[key] for key in ("epochs_completed", "steps",
                                                       "pretrain_seconds", "final_loss")}
                        for name, s in summaries.items()},
        "probes": rows,
        "hardware": {"cpu_count": os.cpu_count(), "machine": platform.machine()},
        "command": "python benchmarks/continue_from_preset.py "
                   + " ".join(sys.argv[1:] if argv is None else argv),
    }
    metrics = list(probe)
    print()
    print("| encoder | " + " | ".join(metrics) + " |")
    print("|---|" + "---|" * len(metrics))
    for name, values in rows.items():
        print(f"| {name} | " + " | ".join(f"{values[m]:.4f}" for m in metrics) + " |")
    for name, s in summaries.items():
        print(f"{name}: {s['epochs_completed']} epochs ({s['steps']} steps) in "
              f"{s['pretrain_seconds'] / 60:.1f} min")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
