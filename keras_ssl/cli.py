"""The `keras-ssl` command: pretrain, probe, export, and a demo.

```
keras-ssl demo                                   # digits: pretrain, probe, export, plots
keras-ssl pretrain --method simclr --dataset fashion_mnist --backbone resnet18 \
    --epochs 10 --out runs/simclr
keras-ssl probe --run runs/simclr --dataset fashion_mnist --fractions 0.01 1
keras-ssl export --run runs/simclr --out exported/encoder
```
"""

import argparse
import os
import sys
import time


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _fraction(text):
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {text}")
    return value


def _add_pretrain_arguments(parser, epochs_default):
    from keras_ssl import backbones, datasets, training

    parser.add_argument(
        "--method", default="simclr", choices=training.available_methods() + ["mlm"],
        help="pretext task (default: simclr; mlm: BERT masked-LM on --text)",
    )
    parser.add_argument(
        "--text", default=None,
        help="with --method mlm: a text file or folder (default: Shakespeare)",
    )
    parser.add_argument("--sequence-length", type=_positive_int, default=None,
                        help="with --method mlm: tokens per sequence")
    parser.add_argument("--vocabulary-size", type=_positive_int, default=None,
                        help="with --method mlm: WordPiece vocabulary size")
    parser.add_argument(
        "--dataset", default="digits", choices=datasets.available(),
        help="dataset name (default: digits, embedded, always offline)",
    )
    parser.add_argument(
        "--backbone", default=None, choices=backbones.available(),
        help="encoder architecture (default: resnet18; vit for --method mae)",
    )
    parser.add_argument("--epochs", type=_positive_int, default=epochs_default)
    parser.add_argument("--batch-size", type=_positive_int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument(
        "--width-multiplier", type=float, default=0.25,
        help="ResNet channel width multiplier (default 0.25: CPU-sized)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--limit", type=_positive_int, default=None,
        help="use only this many training images",
    )
    parser.add_argument("--data-dir", default=None, help="folder with local dataset files")
    parser.add_argument(
        "--budget-minutes", type=float, default=None,
        help="stop pretraining after this many minutes",
    )
    parser.add_argument(
        "--jit-compile", default="auto", choices=["auto", "on", "off"],
        help="XLA for image methods (default auto: on with a GPU, off on CPU)",
    )
    parser.add_argument(
        "--precision", default="float32", choices=list(training.PRECISIONS),
        help="dtype policy for image methods (mixed_float16 for GPUs)",
    )


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-ssl",
        description="Self-supervised pretraining for Keras: pretrain, probe, export.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pretrain", help="pretrain an encoder into a run folder")
    _add_pretrain_arguments(p, epochs_default=10)
    p.add_argument("--out", required=True, help="run folder to write")
    p.add_argument("--overwrite", action="store_true", help="replace a finished run")
    p.add_argument("--no-export", action="store_true", help="skip the SavedModel export")

    p = sub.add_parser("probe", help="linear probe and kNN accuracy of an encoder")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a pretraining run folder")
    source.add_argument("--encoder", help="an exported encoder folder or .keras file")
    p.add_argument("--dataset", default=None, help="default: the run's dataset")
    p.add_argument("--data-dir", default=None)
    p.add_argument(
        "--fractions", type=_fraction, nargs="+", default=[0.01, 1.0],
        help="fractions of the training labels to probe with (default: 0.01 1)",
    )
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("export", help="export a run's encoder as a SavedModel")
    p.add_argument("--run", required=True, help="a pretraining run folder")
    p.add_argument("--out", required=True, help="SavedModel folder to write")
    p.add_argument("--overwrite", action="store_true")

    p = sub.add_parser(
        "demo",
        help="pretrain on the embedded digits data, probe against a random "
        "encoder, export, and plot (a few minutes on 2 CPU cores)",
    )
    _add_pretrain_arguments(p, epochs_default=100)
    p.add_argument("--out", default=os.path.join("runs", "demo"))

    p = sub.add_parser("zoo", help="list and run the recipes under models/")
    zoo_sub = p.add_subparsers(dest="zoo_command", required=True)
    zoo_sub.add_parser("list", help="recipes and their headline numbers")
    z = zoo_sub.add_parser("run", help="run a recipe end to end")
    z.add_argument("name")
    z.add_argument(
        "--budget-minutes", type=float, default=None,
        help="pretraining time budget (default: the recipe's); results of a "
        "run with another budget are written to --out only",
    )
    z.add_argument("--out", default=None, help="run folder (default runs/zoo/NAME)")
    z = zoo_sub.add_parser("card", help="regenerate a model card from its results.json")
    z.add_argument("name")
    return parser


def _print_table(rows, headers):
    widths = [
        max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)
    ]
    line = "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def _pretrain_from_args(args, **kwargs):
    from keras_ssl import training

    return training.pretrain(
        args.out,
        method=args.method,
        dataset=args.dataset,
        backbone=args.backbone,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        width_multiplier=args.width_multiplier,
        seed=args.seed,
        limit=args.limit,
        data_dir=args.data_dir,
        budget_minutes=args.budget_minutes,
        jit_compile={"auto": "auto", "on": True, "off": False}[args.jit_compile],
        precision=args.precision,
        **kwargs,
    )


def _pretrain_text_from_args(args, demo=False):
    from keras_ssl import training

    if args.jit_compile == "on" or args.precision != "float32":
        raise ValueError(
            "`--jit-compile on` and `--precision` apply to image methods; "
            "--method mlm tokenizes inside its train step, which XLA cannot "
            "compile, and trains in float32."
        )

    return training.pretrain_text(
        args.out,
        corpus=args.text,
        max_texts=8000 if demo else None,
        vocabulary_size=args.vocabulary_size or (2000 if demo else 8000),
        sequence_length=args.sequence_length or (32 if demo else 64),
        batch_size=args.batch_size or 64,
        epochs=args.epochs,
        learning_rate=args.learning_rate or 5e-4,
        budget_minutes=args.budget_minutes,
        seed=args.seed,
    )


def cmd_pretrain(args):
    if args.method == "mlm":
        run = _pretrain_text_from_args(args)
        summary = run["summary"]
        print(
            f"Pretrained a BERT with masked-LM: {summary['steps']} steps in "
            f"{summary['pretrain_seconds']:.0f} s, held-out masked-token accuracy "
            f"{summary['held_out_masked_accuracy']:.4f}. Run folder: {args.out}"
        )
        return 0
    result = _pretrain_from_args(args, export=not args.no_export, overwrite=args.overwrite)
    summary = result["summary"]
    print(
        f"Pretrained {args.method} on {args.dataset}: "
        f"{summary['epochs_completed']} epochs in {summary['pretrain_seconds']:.0f} s, "
        f"final loss {summary['final_loss']:.4f}. Run folder: {args.out}"
    )
    return 0


def cmd_probe(args):
    from keras_ssl import export, training

    if args.run:
        encoder = training.load_run_encoder(args.run)
        config = training.read_json(os.path.join(args.run, "config.json"))
        dataset = args.dataset or config["dataset"]
    else:
        encoder = export.load_backbone(args.encoder, trainable=True)
        if args.dataset is None:
            raise SystemExit("keras-ssl probe: --dataset is required with --encoder")
        dataset = args.dataset
    results = training.probe(
        encoder, dataset, fractions=args.fractions, seed=args.seed,
        data_dir=args.data_dir,
    )
    _print_table([(k, f"{v:.4f}") for k, v in results.items()], ("metric", "accuracy"))
    if args.run:
        training.write_json(os.path.join(args.run, "probe.json"), results)
    return 0


def cmd_export(args):
    from keras_ssl import export, training

    encoder = training.load_run_encoder(args.run)
    export.export_backbone(encoder, args.out, overwrite=args.overwrite)
    print(f"Exported the encoder of {args.run} to {args.out} "
          f"(signatures: {', '.join(export.signatures(args.out))}).")
    return 0


def cmd_demo(args):
    import keras

    from keras_ssl import evaluation, training, visualize

    started = time.time()
    if args.method == "mlm":
        return _demo_text(args, started)
    print(f"keras-ssl demo: {args.method} on {args.dataset}, "
          f"backbone {args.backbone or 'default'}")
    result = _pretrain_from_args(args, overwrite=True)
    data = result["data"]
    (x_train, _), (x_test, y_test) = data
    fractions = (0.1, 1.0)
    print("Evaluating the pretrained encoder ...")
    pretrained = training.probe(result["model"].encoder, args.dataset, fractions, data=data)
    print("Evaluating a randomly initialised encoder of the same architecture ...")
    keras.utils.set_random_seed(args.seed + 1)
    random_encoder = training.build_encoder(
        result["config"]["backbone"], x_train.shape[1:], args.width_multiplier
    )
    baseline = training.probe(random_encoder, args.dataset, fractions, data=data)
    results = {"pretrained": pretrained, "random_init": baseline}
    training.write_json(os.path.join(args.out, "results.json"), results)

    visualize.plot_history(args.out, path=os.path.join(args.out, "loss_curve.png"))
    features = evaluation.extract_features(result["model"].encoder, x_test)
    visualize.plot_embeddings(
        features, y_test, path=os.path.join(args.out, "embeddings_pca.png"),
        method="pca",
    )
    plots = ["loss_curve.png", "embeddings_pca.png"]
    if hasattr(result["model"], "reconstruct"):
        images, masked, reconstructed = result["model"].reconstruct(x_test[:8])
        visualize.plot_reconstructions(
            images, masked, reconstructed,
            path=os.path.join(args.out, "reconstructions.png"),
        )
        plots.append("reconstructions.png")
    rows = [
        (metric, f"{pretrained[metric]:.4f}", f"{baseline[metric]:.4f}",
         f"{pretrained[metric] - baseline[metric]:+.4f}")
        for metric in pretrained
    ]
    print()
    _print_table(rows, ("metric (test accuracy)", "pretrained", "random init", "gain"))
    print()
    print(f"Run folder: {args.out}")
    print(f"  encoder SavedModel: {os.path.join(args.out, 'encoder')}")
    print(f"  plots: {', '.join(plots)}; TensorBoard logs: logs/")
    print(f"Done in {time.time() - started:.0f} s.")
    return 0


def cmd_zoo(args):
    import os as _os

    from keras_ssl import training, zoo

    if args.zoo_command == "list":
        rows = []
        for name in zoo.list_recipes():
            path = _os.path.join(zoo.default_zoo_dir(), name, "results.json")
            results = training.read_json(path) if _os.path.exists(path) else None
            rows.append((name, zoo.headline(results)))
        if not rows:
            print("No recipes found.")
            return 0
        _print_table(rows, ("recipe", "results (test accuracy)"))
        return 0
    if args.zoo_command == "card":
        zoo.load_recipe(args.name)
        zoo.render_card(args.name)
        zoo.render_readme()
        print(f"Regenerated models/{args.name}/README.md and the README results table")
        return 0
    results = zoo.run_recipe(args.name, out_dir=args.out, budget_minutes=args.budget_minutes)
    if results.get("kind") == "text":
        print(zoo.text_results_table(results))
    else:
        print(zoo.results_table(results))
    print(f"Total {results['total_seconds'] / 60:.1f} min.")
    return 0


def _demo_text(args, started):
    from keras_ssl import training, visualize

    if args.epochs == 100:  # the image demo's default; text needs fewer
        args.epochs = 2
    print("keras-ssl demo: BERT masked-LM on Shakespeare, then SMS spam fine-tuning")
    run = _pretrain_text_from_args(args, demo=True)
    print("Fine-tuning on SMS spam: pretrained vs randomly initialised BERT ...")
    results = training.evaluate_text(run["model"], run["new_model"], fractions=(0.1, 1.0),
                                     seed=args.seed, min_steps=100, min_epochs=1)
    training.write_json(os.path.join(args.out, "results.json"), results)
    visualize.plot_history(args.out, path=os.path.join(args.out, "loss_curve.png"))
    rows = []
    for key in results["pretrained"]:
        if key.startswith("epochs@"):
            continue
        a, b = results["pretrained"][key], results["random_init"][key]
        rows.append((key, f"{a:.4f}", f"{b:.4f}", f"{a - b:+.4f}"))
    print()
    summary = run["summary"]
    print(f"Held-out masked-token accuracy: {summary['held_out_masked_accuracy']:.4f}")
    _print_table(rows, ("SMS spam test metric", "pretrained", "random init", "gain"))
    print(f"Run folder: {args.out} (text_encoder/ SavedModel takes raw strings; loss_curve.png)")
    print(f"Done in {time.time() - started:.0f} s.")
    return 0


COMMANDS = {
    "pretrain": cmd_pretrain,
    "probe": cmd_probe,
    "export": cmd_export,
    "demo": cmd_demo,
    "zoo": cmd_zoo,
}


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"keras-ssl {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
