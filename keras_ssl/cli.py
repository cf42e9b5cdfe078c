"""The `keras-ssl` command: pretrain, probe, export, and a demo.

```
keras-ssl demo                                   # digits: pretrain, probe, export, plots
keras-ssl pretrain --method simclr --dataset fashion_mnist --backbone resnet18 \
    --epochs 10 --out runs/simclr
keras-ssl pretrain --method simclr --images photos/ --image-size 96 --out runs/mine
keras-ssl data write-tfrecords photos/ shards/ --shard-size 5000 --image-size 96
keras-ssl pretrain --method mae --images shards/ --out runs/mae
keras-ssl pretrain --method videomae --dataset moving_fashion_mnist --out runs/videomae
keras-ssl pretrain --method simclr --init-preset simclr_resnet18_fashion_mnist \
    --images photos/ --out runs/adapted
keras-ssl probe --run runs/adapted --labeled labeled/ --compare runs/mine
keras-ssl probe --run runs/simclr --dataset fashion_mnist --fractions 0.01 1
keras-ssl export --run runs/simclr --out exported/encoder
keras-ssl zoo fetch simclr_resnet18_fashion_mnist --out encoder/
keras-ssl probe --preset simclr_resnet18_fashion_mnist --fractions 0.01
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
        "--method", default="simclr", choices=training.available_methods(),
        help="pretext task (default: simclr; text: mlm, BERT masked-LM, and clm, GPT "
        "causal LM, on --text; video: videomae and frame_order; image and text: clip)",
    )
    parser.add_argument(
        "--text", default=None,
        help="text methods: the corpus, a text file or folder, a CSV file (with "
        "--text-column), or a labelled task's own texts, sms_spam or fortunes "
        "(domain-adaptive pretraining; default: Shakespeare)",
    )
    parser.add_argument("--text-column", default=None,
                        help="text methods: the column of the --text CSV file holding the "
                        "texts (a header name or a 0-based index; .tsv files are tab-separated)")
    parser.add_argument("--task", default=None, choices=["sms_spam", "fortunes"],
                        help="text methods: the labelled task the encoder is evaluated on "
                        "(default: --text when it names a task, else sms_spam)")
    parser.add_argument("--sequence-length", type=_positive_int, default=None,
                        help="text methods: tokens per sequence")
    parser.add_argument("--vocabulary-size", type=_positive_int, default=None,
                        help="text methods: WordPiece vocabulary size")
    parser.add_argument("--language", default=None,
                        help="clip on emoji: the captions' language, a CLDR code such as en "
                        "(the default) or zh")
    parser.add_argument(
        "--dataset", default=None,
        help="images: " + ", ".join(datasets.available()) + " (default digits, embedded); "
        "series (cpc, wav2vec2): a UCR/UEA archive set such as JapaneseVowels (the default), "
        "GunPoint, ArrowHead; video (videomae, frame_order): "
        + ", ".join(datasets.available_videos())
        + " (generated clips of moving items; default moving_fashion_mnist); image and text "
        "(clip): emoji (the default) or a captions.csv of image paths and captions",
    )
    parser.add_argument(
        "--images", default=None, metavar="PATH",
        help="image methods: your own images, a folder tree of JPEG/PNG/BMP/GIF files (any "
        "sizes, color or gray) or TFRecord shards (a folder written by `keras-ssl data "
        "write-tfrecords`, or a glob such as 'shards/train-*.tfrecord'), streamed from disk",
    )
    parser.add_argument("--image-size", type=_positive_int, default=None, metavar="PX",
                        help="with --images: the side every image is brought to "
                        "(default: the first image's size); video methods: the side of "
                        "the frames (default 32)")
    parser.add_argument("--frames", type=_positive_int, default=None,
                        help="video methods: frames a clip (default 8)")
    parser.add_argument("--channels", type=int, choices=[1, 3], default=None,
                        help="with --images: 1 (gray) or 3 (color); default: the first image's")
    parser.add_argument(
        "--backbone", default=None,
        choices=backbones.available() + ["bert_tiny", "bert_small", "gpt_tiny", "gpt_small",
                                         "tcn", "videovit"],
        help="encoder architecture (default: the method's: resnet18, vit for mae, simmim and beit, "
        "bert_tiny for mlm, gpt_tiny for clm, tcn (TemporalConvNet) for cpc and wav2vec2, "
        "videovit (VideoViT) for videomae, resnet18 on each frame for frame_order)",
    )
    parser.add_argument(
        "--init-preset", default=None, metavar="PRESET",
        help="start from this preset's encoder (a zoo name or a preset folder) instead of "
        "random weights; it fixes the backbone (and, for text, the tokenizer)",
    )
    parser.add_argument("--epochs", type=_positive_int, default=epochs_default)
    parser.add_argument("--batch-size", type=_positive_int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument(
        "--width-multiplier", type=float, default=None,
        help="ResNet channel width multiplier (default 0.25: CPU-sized)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--limit", type=_positive_int, default=None,
        help="use only this many training examples",
    )
    parser.add_argument("--data-dir", default=None, help="folder with local dataset files")
    parser.add_argument(
        "--budget-minutes", type=float, default=None,
        help="stop pretraining after this many minutes",
    )
    parser.add_argument(
        "--jit-compile", default="auto", choices=["auto", "on", "off"],
        help="XLA (default auto: on with a GPU, off on CPU)",
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
    source.add_argument("--preset", help="a zoo preset name (keras-ssl zoo list) or folder")
    p.add_argument("--dataset", default=None,
                   help="default: the run's or preset's dataset (text: sms_spam)")
    p.add_argument("--labeled", default=None, metavar="PATH",
                   help="image encoders: your own labelled images, one sub-folder per class "
                   "(or labelled TFRecord shards), brought to the encoder's input size and "
                   "split 80/20 (stratified) into probe training and test images")
    p.add_argument("--data-dir", default=None)
    p.add_argument(
        "--fractions", type=_fraction, nargs="+", default=[0.01, 1.0],
        help="fractions of the training labels to probe with (default: 0.01 1)",
    )
    p.add_argument(
        "--feature-layers", nargs="+", default=None, metavar="LAYER",
        help="image encoders: probe these layers' outputs (average-pooled, concatenated) "
             "instead of the encoder's output, e.g. stage3_block2_out stage4_block2_out "
             "(default for a preset: the layers its card was measured at)",
    )
    p.add_argument(
        "--compare", nargs="+", default=[], metavar="RUN",
        help="more run folders probed on the same data beside it, e.g. the same method "
        "from scratch; a run that continued from a preset (--init-preset) is also "
        "compared with the preset as it was",
    )
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("export", help="export a run's encoder as a SavedModel")
    p.add_argument("--run", required=True, help="a pretraining run folder")
    p.add_argument("--out", required=True, help="SavedModel folder to write")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--teacher", action="store_true",
                   help="export the momentum teacher's encoder (moco, byol, dino) "
                        "instead of the student's")

    p = sub.add_parser(
        "distill",
        help="distill a pretrained encoder (a run or a preset) into a smaller student on "
        "unlabeled data: images, or text with --mode tinybert",
    )
    _add_pretrain_arguments(p, epochs_default=10)
    p.set_defaults(method="distill")
    p.add_argument("--teacher", required=True,
                   help="the pretrained encoder to distill: a pretraining run folder or a zoo "
                   "preset (name or folder)")
    p.add_argument("--student", default=None,
                   help="the student's architecture (default resnet18; bert_tiny for "
                   "--mode tinybert), as --backbone")
    p.add_argument("--width", type=float, default=None,
                   help="the student's ResNet width multiplier, e.g. 0.125 (as "
                   "--width-multiplier)")
    p.add_argument("--mode", default="feature",
                   choices=["feature", "similarity", "logits", "tinybert"],
                   help="what the student matches: the teacher's features (cosine), their "
                   "similarities to a queue of teacher embeddings (SEED), its logits, or, for "
                   "a BERT teacher (text), its embeddings, hidden states and attention layer "
                   "by layer (TinyBERT; the student keeps the teacher's tokenizer)")
    p.add_argument("--out", required=True, help="run folder to write")
    p.add_argument("--overwrite", action="store_true", help="replace a finished run")

    p = sub.add_parser(
        "robust",
        help="fine-tune encoders with and without adversarial training; accuracy under "
        "attack and common corruptions, with a plot",
    )
    p.add_argument("--run", nargs="+", default=[], metavar="RUN",
                   help="pretraining run folders whose encoders are compared")
    p.add_argument("--preset", nargs="+", default=[], metavar="PRESET",
                   help="zoo presets (names or folders) compared beside the runs")
    p.add_argument("--no-random", action="store_true",
                   help="leave out the randomly initialised encoder (training from scratch)")
    p.add_argument("--dataset", default=None,
                   help="labelled images (default: the first encoder's dataset)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--labels", type=_positive_int, default=6000,
                   help="training labels for fine-tuning, stratified (default 6000)")
    p.add_argument("--test-size", type=_positive_int, default=1000,
                   help="test images attacked and corrupted, stratified (default 1000)")
    p.add_argument("--epochs", type=_positive_int, default=5, help="fine-tuning epochs")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--batch-size", type=_positive_int, default=128)
    p.add_argument("--train-epsilon", type=float, default=0.1,
                   help="L-inf budget of adversarial fine-tuning, [0, 1] pixel scale")
    p.add_argument("--train-steps", type=_positive_int, default=3,
                   help="PGD steps of adversarial fine-tuning")
    p.add_argument("--epsilon", type=float, default=0.1,
                   help="L-inf budget of the headline attack")
    p.add_argument("--steps", type=_positive_int, default=20, help="PGD steps of the attack")
    p.add_argument("--epsilons", type=float, nargs="+", default=[0.02, 0.05],
                   help="more budgets for the accuracy-against-budget curve")
    p.add_argument("--severities", type=int, nargs="+", default=[1, 3, 5])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="folder for robustness.json and robustness.png")

    p = sub.add_parser(
        "demo",
        help="pretrain on the embedded digits data, probe against a random "
        "encoder, export, and plot (a few minutes on 2 CPU cores)",
    )
    _add_pretrain_arguments(p, epochs_default=None)
    p.add_argument("--out", default=os.path.join("runs", "demo"))

    p = sub.add_parser("zoo", help="list and run the recipes under models/")
    zoo_sub = p.add_subparsers(dest="zoo_command", required=True)
    zoo_help = ("a zoo folder of your own (recipes as NAME/config.json; default: the "
                "project's models/, or KERAS_SSL_ZOO_DIR)")
    z = zoo_sub.add_parser("list", help="recipes, their headline numbers and shipped weights")
    z.add_argument("--zoo-dir", default=None, help=zoo_help)
    z = zoo_sub.add_parser("fetch", help="copy a recipe's pretrained preset, checksums verified")
    z.add_argument("name")
    z.add_argument("--out", required=True, help="folder to write the preset to")
    z.add_argument("--overwrite", action="store_true")
    z = zoo_sub.add_parser("run", help="run a recipe end to end")
    z.add_argument("name")
    z.add_argument(
        "--budget-minutes", type=float, default=None,
        help="pretraining time budget (default: the recipe's); results of a "
        "run with another budget are written to --out only",
    )
    z.add_argument("--out", default=None, help="run folder (default runs/zoo/NAME)")
    z.add_argument("--zoo-dir", default=None, help=zoo_help)
    z = zoo_sub.add_parser("card", help="regenerate a model card from its results.json")
    z.add_argument("name")
    z.add_argument("--zoo-dir", default=None, help=zoo_help)

    p = sub.add_parser("data", help="convert your own data for fast streaming")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    d = data_sub.add_parser(
        "write-tfrecords",
        help="a folder of images to TFRecord shards with a manifest (resumes if stopped)")
    d.add_argument("source", help="folder of JPEG/PNG/BMP/GIF images (any depth)")
    d.add_argument("out", help="folder for the shards and manifest.json")
    d.add_argument("--shard-size", type=int, default=5000, help="records per shard")
    d.add_argument("--image-size", type=int, nargs="+", default=None, metavar="PX",
                   help="height [width] to bring every image to (default: the first image's)")
    d.add_argument("--channels", type=int, choices=[1, 3], default=None)
    d.add_argument("--crop", choices=["center", "resize"], default="center")
    d.add_argument("--labels", default=None,
                   help="'inferred' (sub-folder names are classes) or a CSV of filename,label")
    d.add_argument("--format", dest="image_format", choices=["png", "jpeg"], default="png")
    d.add_argument("--overwrite", action="store_true",
                   help="replace the shards of another conversion in OUT")
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


def _pretrain_from_args(args, demo=False, **kwargs):
    from keras_ssl import modalities, training

    modality = modalities.for_method(args.method)
    options = {}
    for name in ("width_multiplier", "sequence_length", "vocabulary_size", "text_column",
                 "task", "image_size", "channels", "frames", "language"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    sources = [f"--{name}" for name in ("text", "images", "dataset")
               if getattr(args, name) is not None]
    if len(sources) > 1:
        raise ValueError(f"Pass one of {' and '.join(sources)}: each names the training data.")
    settings = {"epochs": args.epochs, "limit": args.limit}
    if demo:
        for key, value in modality.demo.items():
            if key in ("epochs", "limit"):
                settings[key] = settings[key] or value
            else:
                options.setdefault(key, value)
    return training.pretrain(
        args.out,
        method=args.method,
        dataset=next((value for value in (args.text, args.images, args.dataset)
                      if value is not None), None),
        backbone=args.backbone,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        data_dir=args.data_dir,
        budget_minutes=args.budget_minutes,
        jit_compile={"auto": "auto", "on": True, "off": False}[args.jit_compile],
        precision=args.precision,
        init_preset=args.init_preset,
        **settings,
        **options,
        **kwargs,
    )


def cmd_pretrain(args):
    result = _pretrain_from_args(args, export=not args.no_export, overwrite=args.overwrite)
    summary, config = result["summary"], result["config"]
    print(
        f"Pretrained {args.method} on {config['dataset'] or 'the default corpus'}: "
        f"{summary['epochs_completed']} epochs ({summary['steps']} steps) in "
        f"{summary['pretrain_seconds']:.0f} s, final loss {summary['final_loss']:.4f}. "
        f"Run folder: {args.out}"
    )
    return 0


def _probe_source(args):
    """(probe model, modality, default dataset, what) of probe's source."""
    from keras_ssl import export, modalities, presets, training

    if args.run:
        model, config, modality = training.load_run(args.run)
        return (modality.probe_model(model), modality,
                modality.eval_dataset(config["dataset"]), f"The run {args.run!r}")
    if args.preset:
        path = presets.resolve(args.preset)
        manifest = presets.read_manifest(path)
        modality = modalities.get(manifest.get("modality", "image"))
        return (modality.probe_model_from_preset(path, manifest), modality,
                modality.eval_dataset(manifest.get("dataset")), f"The preset {args.preset!r}")
    if args.dataset is None:
        raise ValueError("--dataset is required with --encoder")
    return (export.load_backbone(args.encoder, trainable=True), modalities.get("image"),
            args.dataset, f"The encoder {args.encoder!r}")


def _compared(args, modality, probe_model):
    """(label, probe model) of what `probe` compares with: the preset a run
    continued from, as it was, and each `--compare` run."""
    from keras_ssl import presets, training

    if args.compare and not args.run:
        raise ValueError("`--compare` compares runs: probe a run (--run) beside them.")
    compared = []
    preset = training.read_json(os.path.join(args.run, "config.json")).get(
        "init_preset") if args.run else None
    if preset:
        path = presets.resolve(preset)
        start = modality.probe_model_from_preset(path, presets.read_manifest(path))
        if modality.name == "image":  # at the size the run was trained at
            start = presets.adapt_to_input_shape(start, probe_model.input_shape[1:],
                                                 what=f"The preset {preset!r}")
        compared.append((f"the preset {preset!r} as it was", start))
    for run in args.compare:
        model, _, other = training.load_run(run)
        if other.name != modality.name:
            raise ValueError(f"`--compare` {run!r} is a {other.name} run; {args.run!r} is "
                             f"a {modality.name} run.")
        compared.append((f"the run {run!r}", other.probe_model(model)))
    return compared


def cmd_probe(args):
    from keras_ssl import training

    probe_model, modality, dataset, what = _probe_source(args)
    compared = _compared(args, modality, probe_model)
    if args.preset and not args.feature_layers:
        # A preset whose card was measured at intermediate layers is
        # probed there by default.
        from keras_ssl import presets

        args.feature_layers = presets.read_manifest(
            presets.resolve(args.preset)).get("feature_layers")
    if args.feature_layers:
        if modality.name != "image":
            raise ValueError("--feature-layers applies to image encoders only.")
        from keras_ssl import evaluation

        probe_model = evaluation.feature_model(probe_model, args.feature_layers)
        compared = [(label, evaluation.feature_model(model, args.feature_layers))
                    for label, model in compared]
        what += f" (layers {', '.join(args.feature_layers)})"
    if args.labeled is not None:
        if modality.name != "image":
            raise ValueError("`--labeled` applies to image encoders.")
        if args.dataset is not None:
            raise ValueError("Pass one of --labeled and --dataset: each names the probe data.")
        from keras_ssl.datasets import streams

        shape = tuple(probe_model.input_shape[1:])
        data, _ = streams.load_labelled_images(args.labeled, image_size=shape[:2],
                                               channels=shape[2], seed=args.seed)
        dataset = args.labeled
    else:
        dataset = args.dataset or dataset
        if modality.name == "image" and dataset is not None:
            from keras_ssl.datasets import streams

            if streams.is_image_source(dataset):
                raise ValueError(
                    f"The probe data {dataset!r} is not a built-in dataset but images of your "
                    "own: probe on labelled ones with --labeled PATH (one sub-folder per "
                    "class), or name a built-in dataset with --dataset."
                )
        data = modality.eval_data_for(probe_model, dataset, data_dir=args.data_dir,
                                      seed=args.seed)
    modality.check_compatible(probe_model, data, what)
    for label, model in compared:  # every shape checked before any probe runs
        modality.check_compatible(model, data, label[0].upper() + label[1:])
    results = training.probe(probe_model, dataset, fractions=args.fractions, seed=args.seed,
                             data=data, modality=modality)
    if not compared:
        print(f"{what} on {dataset} (test accuracy):")
        _print_table([(k, f"{v:.4f}") for k, v in results.items()], ("metric", "accuracy"))
    else:
        others = {label: training.probe(model, dataset, fractions=args.fractions,
                                        seed=args.seed, data=data, modality=modality)
                  for label, model in compared}
        print(f"{what} on {dataset}, beside {len(others)} other encoder(s) (test accuracy):")
        for number, label in enumerate(others, start=2):
            print(f"  ({number}) {label}")
        _print_table([(k, f"{v:.4f}", *(f"{o[k]:.4f}" for o in others.values()))
                      for k, v in results.items()],
                     ("metric", "(1) this run", *(f"({n})" for n in range(2, len(others) + 2))))
        results = dict(results, compared=others)
    if args.run:
        training.write_json(os.path.join(args.run, "probe.json"), results)
    return 0


def cmd_distill(args):
    if args.method != "distill":
        raise ValueError(f"`distill` trains the method distill; got --method {args.method}.")
    method_kwargs = {"teacher": args.teacher, "mode": args.mode}
    if args.mode == "tinybert":  # text: the text modality's method
        if args.width is not None:
            raise ValueError("`--width` sets a ResNet student's width; --mode tinybert trains "
                             "a BERT student (--student bert_tiny or bert_small).")
        args.method, method_kwargs = "tinybert", {"teacher": args.teacher}
    if args.student is not None:
        if args.backbone is not None:
            raise ValueError("Pass one of --student and --backbone: both name the student.")
        args.backbone = args.student
    if args.width is not None:
        if args.width_multiplier is not None:
            raise ValueError("Pass one of --width and --width-multiplier.")
        args.width_multiplier = args.width
    result = _pretrain_from_args(args, method_kwargs=method_kwargs, overwrite=args.overwrite)
    summary, model = result["summary"], result["model"]
    # The text teacher is a method (its backbone counted, not its pretext head).
    teacher = getattr(model.teacher, "backbone", model.teacher).count_params()
    student = getattr(model, "encoder", None) or model.backbone
    student = student.count_params()
    print(
        f"Distilled {args.teacher} ({teacher:,} parameters) into a {result['config']['backbone']} "
        f"student ({student:,} parameters, {teacher / student:.1f}x fewer), mode {args.mode}: "
        f"{summary['epochs_completed']} epochs in {summary['pretrain_seconds']:.0f} s, final loss "
        f"{summary['final_loss']:.4f}. Run folder: {args.out} (probe it with keras-ssl probe "
        f"--run {args.out})"
    )
    return 0


def _robust_encoders(args):
    """{name: encoder} of `robust`'s runs and presets, and the dataset."""
    from keras_ssl import modalities, presets, training
    from keras_ssl.backbones import Backbone

    if not args.run and not args.preset:
        raise ValueError("Name the encoders to compare: --run RUN ... and/or --preset PRESET ...")
    encoders, dataset = {}, None
    for run in args.run:
        model, config, modality = training.load_run(run)
        if modality.name != "image":
            raise ValueError(f"`--run` {run!r} is a {modality.name} run; robustness is measured "
                             "for image encoders.")
        encoders[os.path.basename(os.path.normpath(run))] = modality.encoder(model)
        dataset = dataset or modality.eval_dataset(config["dataset"])
    for preset in args.preset:
        path = presets.resolve(preset)
        manifest = presets.read_manifest(path)
        if manifest.get("modality", "image") != "image":
            raise ValueError(f"`--preset` {preset!r} holds a {manifest['modality']} encoder; "
                             "robustness is measured for image encoders.")
        encoders[manifest.get("name") or os.path.basename(os.path.normpath(preset))] = (
            Backbone.from_preset(preset, verify=False))
        dataset = dataset or modalities.get("image").eval_dataset(manifest.get("dataset"))
    if not args.no_random:
        import keras

        from keras_ssl.evaluation.robustness import random_like

        keras.utils.set_random_seed(args.seed + 1)
        first = next(iter(encoders.values()))
        encoders["random init"] = random_like(first)
    return encoders, args.dataset or dataset


def cmd_robust(args):
    from keras_ssl import adversarial, datasets, evaluation, presets, training, visualize

    for name in ("train_epsilon", "epsilon"):
        if not 0 < getattr(args, name) <= 1:
            raise ValueError(f"`--{name.replace('_', '-')}` must be in (0, 1] (the pixel "
                             f"scale), got {getattr(args, name)}.")
    attack_train = adversarial.PGD(args.train_epsilon, steps=args.train_steps)
    attack = adversarial.PGD(args.epsilon, steps=args.steps)
    encoders, dataset = _robust_encoders(args)
    if dataset is None:
        raise ValueError("--dataset is required: the encoders do not name their dataset.")
    (x_train, y_train), (x_test, y_test) = datasets.load(dataset, data_dir=args.data_dir)
    for name, encoder in encoders.items():
        presets.check_input_shape(encoder, x_train.shape[1:], preset=f"The encoder {name!r}")
    train = datasets.label_subset(x_train, y_train, num_samples=min(args.labels, len(x_train)),
                                  seed=args.seed)
    test = datasets.label_subset(x_test, y_test, num_samples=min(args.test_size, len(x_test)),
                                 seed=args.seed)
    print(f"keras-ssl robust: {len(encoders)} encoders on {dataset} ({len(train[0])} training "
          f"labels, {len(test[0])} test images); adversarial fine-tuning "
          f"{attack_train.describe()}, attack {attack.describe()}")
    results = evaluation.compare_robustness(
        encoders, train, test, adversarial=attack_train, attack=attack, epsilons=args.epsilons,
        severities=tuple(args.severities), seed=args.seed,
        fine_tune_options={"epochs": args.epochs, "learning_rate": args.learning_rate,
                           "batch_size": args.batch_size})
    os.makedirs(args.out, exist_ok=True)
    report = {
        "dataset": dataset,
        "labels": len(train[0]),
        "test_images": len(test[0]),
        "adversarial_fine_tuning": attack_train.get_config(),
        "attack": attack.get_config(),
        "fine_tune": {"epochs": args.epochs, "learning_rate": args.learning_rate,
                      "batch_size": args.batch_size},
        "command": "keras-ssl " + " ".join(getattr(args, "argv", ["robust"])),
        "results": results,
    }
    training.write_json(os.path.join(args.out, "robustness.json"), report)
    import matplotlib.pyplot as plt

    plt.close(visualize.plot_robustness(
        {label: {"attack": r["attack"], "corruption": r["corruption"]}
         for label, r in results.items()},
        path=os.path.join(args.out, "robustness.png"),
        title=f"{dataset}: fine-tuned classifiers under attack and corruption"))
    print()
    print(evaluation.robustness_table(report))
    print(f"\nWrote {os.path.join(args.out, 'robustness.json')} and robustness.png")
    return 0


def cmd_export(args):
    from keras_ssl import export, training

    model, _, modality = training.load_run(args.run)
    modality.export(model, args.out, overwrite=args.overwrite, teacher=args.teacher)
    which = "teacher encoder" if args.teacher else "encoder"
    print(f"Exported the {which} of {args.run} to {args.out} "
          f"(signatures: {', '.join(export.signatures(args.out))}).")
    return 0


def cmd_demo(args):
    import keras

    from keras_ssl import training

    if args.images is not None:
        raise ValueError("`--images`: the demo runs on built-in data; pretrain on your own "
                         "images with `keras-ssl pretrain --images PATH --out RUN`.")
    started = time.time()
    print(f"keras-ssl demo: {args.method} on {args.text or args.dataset or 'the default data'}, "
          f"backbone {args.backbone or 'default'}")
    run = _pretrain_from_args(args, demo=True, overwrite=True)
    modality = run["modality"]
    data = modality.eval_data(run)
    fractions = (0.1, 1.0)
    print("Evaluating the pretrained encoder (linear probe, kNN) ...")
    pretrained = training.probe(modality.probe_model(run["model"]), None, fractions,
                                data=data, modality=modality)
    print("Evaluating a randomly initialised encoder of the same architecture ...")
    keras.utils.set_random_seed(args.seed + 1)
    baseline = training.probe(modality.new_probe_model(run["config"], run["data"]), None,
                              fractions, data=data, modality=modality)
    results = {"pretrained": pretrained, "random_init": baseline}
    training.write_json(os.path.join(args.out, "results.json"), results)

    import matplotlib.pyplot as plt

    from keras_ssl import visualize

    plt.close(visualize.plot_history(args.out, path=os.path.join(args.out, "loss_curve.png")))
    plots = ["loss_curve.png"] + modality.plots(run, data[1])
    for line in modality.demo_lines(run):
        print(line)
    rows = [
        (metric, f"{pretrained[metric]:.4f}", f"{baseline[metric]:.4f}",
         f"{pretrained[metric] - baseline[metric]:+.4f}")
        for metric in pretrained
    ]
    print()
    _print_table(rows, ("metric (test accuracy)", "pretrained", "random init", "gain"))
    print()
    print(f"Run folder: {args.out}")
    print(f"  SavedModel: {os.path.join(args.out, modality.export_dirname)}")
    print(f"  plots: {', '.join(plots)}; TensorBoard logs (with the Embedding Projector): "
          f"tensorboard --logdir {os.path.join(args.out, 'logs')}")
    print(f"Done in {time.time() - started:.0f} s.")
    return 0


def cmd_zoo(args):
    from keras_ssl import presets, training, zoo

    if args.zoo_command == "list":
        shipped = {info["name"]: info for info in presets.available()}
        rows = []
        zoo_dir = args.zoo_dir or zoo.default_zoo_dir()
        for name in zoo.list_recipes(zoo_dir):
            path = os.path.join(zoo_dir, name, "results.json")
            results = training.read_json(path) if os.path.exists(path) else None
            weights = f"{shipped[name]['size_mb']:.1f} MB" if name in shipped else "not shipped"
            rows.append((name, zoo.headline(results), weights))
        if not rows:
            print("No recipes found.")
            return 0
        _print_table(rows, ("recipe", "results (test accuracy)", "weights (preset)"))
        return 0
    if args.zoo_command == "fetch":
        out = presets.fetch(args.name, args.out, overwrite=args.overwrite)
        manifest = presets.read_manifest(out)
        print(f"Fetched preset {args.name} to {out} "
              f"({presets.folder_size(out) / 2**20:.1f} MB, {len(manifest['files'])} files, "
              "SHA-256 verified).")
        print(f"Load it with keras_ssl.backbones.Backbone.from_preset({out!r}).")
        return 0
    if args.zoo_command == "card":
        zoo_dir = args.zoo_dir or zoo.default_zoo_dir()
        zoo.load_recipe(args.name, zoo_dir)
        zoo.render_card(args.name, zoo_dir)
        readme = zoo.render_readme(zoo_dir=zoo_dir, missing_ok=args.zoo_dir is not None)
        print(f"Regenerated {os.path.join(zoo_dir, args.name, 'README.md')}"
              + (" and the README results table" if readme is not None else ""))
        return 0
    results = zoo.run_recipe(args.name, out_dir=args.out, budget_minutes=args.budget_minutes,
                             zoo_dir=args.zoo_dir)
    print(zoo.results_table(results))
    print(f"Preset: {results['preset']['path']}. Total {results['total_seconds'] / 60:.1f} min.")
    return 0


def cmd_data(args):
    from keras_ssl import datasets

    size = args.image_size
    if size is not None and len(size) not in (1, 2):
        raise ValueError(f"`--image-size` takes one or two numbers, got {len(size)}.")
    manifest = datasets.write_tfrecords(
        args.source, args.out, shard_size=args.shard_size,
        image_size=None if size is None else tuple(size * 2)[:2], channels=args.channels,
        crop=args.crop, labels=args.labels, image_format=args.image_format,
        overwrite=args.overwrite)
    print(f"Read them with keras_ssl.datasets.from_tfrecords({args.out!r}) "
          f"({manifest['count']} images of shape {tuple(manifest['image_shape'])}).")
    return 0


COMMANDS = {
    "pretrain": cmd_pretrain,
    "probe": cmd_probe,
    "export": cmd_export,
    "demo": cmd_demo,
    "zoo": cmd_zoo,
    "data": cmd_data,
    "distill": cmd_distill,
    "robust": cmd_robust,
}


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"keras-ssl {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
