"""Images: joint-embedding methods (SimCLR, MoCo, BYOL, SimSiam, Barlow Twins,
VICReg, DINO), rotation prediction, masked and denoising autoencoders, SimMIM.

Evaluation protocol of an image recipe (all on the dataset's test split):
* linear probe (frozen encoder, logistic regression) with each label
  fraction (class-stratified, fixed seed), and kNN;
* the same probes on a randomly initialised encoder of the same
  architecture;
* logistic regression on raw pixels with the same labels;
* the same architecture trained supervised from scratch on the smallest
  label fraction, and the pretrained encoder fine-tuned on it.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from keras_ssl import backbones as backbones_lib
from keras_ssl import datasets as datasets_lib
from keras_ssl.datasets import streams
from keras_ssl.modalities.base import Modality
from keras_ssl.modalities.base import fraction_label
from keras_ssl.modalities.base import linear_probes
from keras_ssl.modalities.base import probe_columns
from keras_ssl.modalities.base import register
from keras_ssl.modalities.base import result_cell
from keras_ssl.modalities.base import starting_point_rows
from keras_ssl.modalities.base import table_lines
from keras_ssl.modalities.base import teacher_cost_lines
from keras_ssl.utils import check_choice

# Small-ViT settings used when a "vit" backbone is built by name.
VIT_DEFAULTS = {"hidden_dim": 128, "num_layers": 4, "num_heads": 4}


#: methods that need a ViT backbone
VIT_ONLY = ("mae", "beit")

#: `evaluation.fine_tune` arguments a recipe's `evaluation.fine_tune` may set
FINE_TUNE_OPTIONS = ("mixup", "cutmix", "label_smoothing", "warmup_epochs", "layer_decay",
                     "batch_size", "weight_decay")


def method_class(name):
    """The `SSLMethod` subclass of the image method called `name`."""
    from keras_ssl import methods

    classes = {
        "simclr": methods.SimCLR,
        "moco": methods.MoCo,
        "byol": methods.BYOL,
        "simsiam": methods.SimSiam,
        "barlow": methods.BarlowTwins,
        "vicreg": methods.VICReg,
        "dino": methods.DINO,
        "rotation": methods.RotationPrediction,
        "mae": methods.MaskedAutoencoder,
        "beit": methods.BEiT,
        "simmim": methods.SimMIM,
        "denoising": methods.DenoisingAutoencoder,
        "distill": methods.Distillation,
    }
    check_choice("method", name, sorted(classes))
    return classes[name]


def build_method(name, encoder, seed=None, **kwargs):
    """Create the image pretraining method `name` around `encoder`."""
    return method_class(name)(encoder, seed=seed, **kwargs)


def build_encoder(backbone, input_shape, width_multiplier=None, **kwargs):
    """Build a backbone by name for images of `input_shape`.

    `vit` gets a small configuration (`VIT_DEFAULTS`) and, unless given in
    `kwargs`, the largest patch size among 4, 2, 1 that cuts the image into
    at least 16 patches, doubled (8, 16, 32) while that leaves more than
    14 x 14 patches (as ViT-B/16 at 224 px): 4 up to 56 px, 8 at 64 and
    96 px, 16 at 224 px.
    """
    if width_multiplier is not None and backbone.startswith("resnet"):
        kwargs["width_multiplier"] = width_multiplier
    if backbone.startswith("vit"):
        if backbone == "vit":
            for key, value in VIT_DEFAULTS.items():
                kwargs.setdefault(key, value)
        if "patch_size" not in kwargs:
            height, width = input_shape[0], input_shape[1]
            # The largest patch that divides the image into at least 16 patches.
            kwargs["patch_size"] = next(
                p for p in (4, 2, 1)
                if height % p == 0 and width % p == 0 and (height // p) * (width // p) >= 16
            )
            patch = kwargs["patch_size"]
            while ((height // patch) * (width // patch) > 196 and patch < 32
                   and height % (2 * patch) == 0 and width % (2 * patch) == 0):
                patch *= 2
            kwargs["patch_size"] = patch
    return backbones_lib.get(backbone, input_shape=tuple(input_shape), **kwargs)


def load_images(dataset, data_dir=None, limit=None, seed=0):
    """Load a named dataset; optionally keep `limit` training images."""
    (x_train, y_train), (x_test, y_test) = datasets_lib.load(dataset, data_dir=data_dir)
    if limit is not None and limit < len(x_train):
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(x_train), size=int(limit), replace=False))
        x_train, y_train = x_train[keep], y_train[keep]
    return (x_train, y_train), (x_test, y_test)


class ImageModality(Modality):
    name = "image"
    methods = {
        "simclr": {"batch_size": 256, "learning_rate": 1e-3, "backbone": "resnet18"},
        "moco": {"batch_size": 256, "learning_rate": 1e-3, "backbone": "resnet18"},
        "byol": {"batch_size": 256, "learning_rate": 1e-3, "backbone": "resnet18"},
        "simsiam": {"batch_size": 256, "learning_rate": 1e-3, "backbone": "resnet18"},
        "barlow": {"batch_size": 256, "learning_rate": 1e-3, "backbone": "resnet18"},
        "vicreg": {"batch_size": 256, "learning_rate": 1e-3, "backbone": "resnet18"},
        "dino": {"batch_size": 128, "learning_rate": 1e-3, "backbone": "resnet18"},
        "rotation": {"batch_size": 128, "learning_rate": 1e-3, "backbone": "resnet18"},
        "mae": {"batch_size": 128, "learning_rate": 1.5e-3, "backbone": "vit"},
        "simmim": {"batch_size": 128, "learning_rate": 1.5e-3, "backbone": "vit"},
        "beit": {"batch_size": 128, "learning_rate": 1.5e-3, "backbone": "vit"},
        "denoising": {"batch_size": 128, "learning_rate": 1e-3, "backbone": "resnet18"},
        "distill": {"batch_size": 256, "learning_rate": 1e-3, "backbone": "resnet18"},
    }
    # `image_size` and `channels` apply to the user's own images (a folder
    # or TFRecord shards as `dataset`); built-in datasets keep their own.
    options = {"width_multiplier": 0.25, "image_size": None, "channels": None}
    precisions = ("float32", "mixed_float16", "mixed_bfloat16")
    weight_decay = 1e-4
    export_dirname = "encoder"
    quick = {"epochs": 1, "limit": 1024}
    demo = {"epochs": 100}
    table_title = None

    def default_dataset(self):
        return "digits"

    def configure(self, config):
        config = super().configure(config)
        if streams.is_image_source(config["dataset"]):
            config["dataset"] = os.fspath(config["dataset"])
        else:
            check_choice("dataset", config["dataset"], datasets_lib.available())
            given = [k for k in ("image_size", "channels") if config["options"][k] is not None]
            if given:
                raise ValueError(
                    f"`{given[0]}` applies to your own images (a folder or TFRecord shards as "
                    f"`dataset`); the built-in dataset {config['dataset']!r} has its own."
                )
        if not config.get("init_preset"):  # else the preset's (checked against the method)
            check_choice("backbone", config["backbone"], backbones_lib.available())
        if config["method"] in VIT_ONLY and not config.get("init_preset") and not config["backbone"].startswith("vit"):
            raise ValueError(
                f"`backbone` {config['backbone']!r} cannot be used with method "
                f"{config['method']!r}: it needs a ViT backbone (vit, vit_tiny, vit_small)."
            )
        if config["batch_size"] < 2:
            raise ValueError(
                "`batch_size` must be >= 2 for self-supervised methods, got "
                f"{config['batch_size']}."
            )
        return config

    def check_init_preset(self, config, manifest):
        preset, kind = config["init_preset"], manifest.get("class_name")
        if config["method"] in VIT_ONLY and kind != "ViT":
            raise ValueError(
                f"`init_preset` {preset!r} holds a {kind} encoder; method {config['method']!r} "
                "needs a ViT encoder."
            )
        if len(manifest.get("input_shape") or ()) != 3:
            raise ValueError(f"`init_preset` {preset!r} is not an image encoder's preset "
                             "(its keras_ssl.json has no 3-d input_shape).")
        if streams.is_image_source(config["dataset"]):
            # Your own images are read at the preset's size and channels
            # (color converted to gray for a gray preset) unless you say.
            height, width, channels = manifest["input_shape"]
            config["options"].setdefault("image_size", [int(height), int(width)])
            config["options"].setdefault("channels", int(channels))

    evaluation_settings = ("label_fractions", "feature_layers", "fine_tune", "labeled")

    def check_evaluation(self, evaluation_config, config=None):
        super().check_evaluation(evaluation_config, config)
        labeled = evaluation_config.get("labeled")
        if labeled is not None and not (os.path.isdir(labeled)
                                        or streams.is_tfrecord_source(labeled)):
            raise ValueError(
                f"`evaluation.labeled` {labeled!r} does not exist: expected a folder with one "
                "sub-folder of images per class, or labelled TFRecord shards."
            )
        if config is not None and labeled is None \
                and streams.is_image_source(config.get("dataset")):
            raise ValueError(
                f"The recipe pretrains on images of your own ({config['dataset']!r}), which "
                "carry no labels to evaluate with: name labelled ones in `evaluation.labeled` "
                "(a folder with one sub-folder per class, or labelled TFRecord shards; split "
                "80/20 per class into probe training and test images)."
            )
        fine_tune = evaluation_config.get("fine_tune", {})
        known = {"epochs", "learning_rate", "scratch_learning_rate", *FINE_TUNE_OPTIONS}
        unknown = set(fine_tune) - known
        if unknown:
            raise ValueError(
                f"Unknown `evaluation.fine_tune` settings {sorted(unknown)}; expected some of "
                f"{sorted(known)}."
            )

    def load_data(self, config, data_dir=None):
        if streams.is_image_source(config["dataset"]):
            return self._stream_data(config)
        train, test = load_images(config["dataset"], data_dir=data_dir, limit=config["limit"],
                                  seed=config["seed"])
        return {"train": train, "test": test, "num_train": len(train[0]),
                "labelled": (train, test)}

    def _stream_data(self, config):
        """The user's images, streamed from disk (never all in memory)."""
        options = config["options"]
        stream, count = streams.open_images(config["dataset"], image_size=options["image_size"],
                                            channels=options["channels"], seed=config["seed"])
        if config["limit"] is not None and config["limit"] < count:
            stream, count = stream.take(int(config["limit"])), int(config["limit"])
        if count < config["batch_size"]:
            raise ValueError(
                f"`batch_size` {config['batch_size']} is larger than the data ({count} images "
                f"in {config['dataset']!r})."
            )
        return {"stream": stream, "num_train": count, "image_shape": stream.element_spec.shape,
                "labelled": None}

    @staticmethod
    def _input_shape(data):
        if "stream" in data:
            return tuple(data["image_shape"])
        return data["train"][0].shape[1:]

    def _encoder(self, config, input_shape, load_weights=False):
        if config.get("init_preset"):
            from keras_ssl import presets

            return presets.adapt_to_input_shape(
                self.preset_encoder(config, load_weights=load_weights), input_shape,
                what=f"`init_preset` {config['init_preset']!r}")
        return build_encoder(config["backbone"], input_shape,
                             config["options"]["width_multiplier"],
                             **config.get("backbone_kwargs", {}))

    def build_model(self, config, data):
        encoder = self._encoder(config, self._input_shape(data), load_weights=True)
        kwargs = dict(config.get("method_kwargs", {}))
        if config["method"] == "distill":
            from keras_ssl import methods

            kwargs.pop("teacher", None)
            return methods.Distillation(teacher=self.distillation_teacher(config), student=encoder,
                                        seed=config["seed"], **kwargs)
        if config["method"] == "beit":
            kwargs["tokenizer"] = self._train_tokenizer(config, data, encoder, kwargs)
        return build_method(config["method"], encoder, seed=config["seed"], **kwargs)

    def _train_tokenizer(self, config, data, encoder, kwargs):
        """BEiT's first stage: a `VQTokenizer` fit on the same images.

        `method_kwargs` may hold `tokenizer` (VQTokenizer arguments) and
        `tokenizer_epochs` (default 5); its time counts against the run's
        budget (`data["setup_seconds"]`)."""
        import time

        from keras_ssl import methods

        options = dict(kwargs.pop("tokenizer", None) or {})
        epochs = int(kwargs.pop("tokenizer_epochs", 5))
        if epochs < 1:
            raise ValueError(f"`tokenizer_epochs` must be >= 1, got {epochs!r}.")
        options.setdefault("patch_size", int(encoder.patch_size))
        options.setdefault("seed", config["seed"])
        tokenizer = methods.VQTokenizer(**options)
        tokenizer.compile(optimizer="auto")
        started = time.time()
        dataset = self.train_dataset(config, data)
        tokenizer.build((None, *self._input_shape(data)))
        tokenizer.optimizer.build(tokenizer.trainable_variables)
        print(f"Training the visual tokenizer ({epochs} epochs) ...")
        tokenizer.fit(dataset, epochs=epochs, verbose=2, shuffle=False)  # shuffled by the pipeline
        data["setup_seconds"] = time.time() - started
        data["tokenizer_history"] = {k: [float(v) for v in values]
                                     for k, values in tokenizer.history.history.items()}
        return tokenizer

    def finish(self, model, data, config, run_dir, history):
        if config["method"] != "beit":
            return {}
        if data.get("labelled"):
            x_test = data["labelled"][1][0]
        else:  # the user's own images: usage over the first ones
            x_test = np.stack(list(data["stream"].take(1024).as_numpy_iterator()))
        return {
            "tokenizer_seconds": float(data.get("setup_seconds", 0.0)),
            "tokenizer_final_reconstruction_loss":
                data.get("tokenizer_history", {}).get("reconstruction_loss", [None])[-1],
            "tokenizer_codebook_usage_test": model.tokenizer.codebook_usage(x_test),
        }

    def train_dataset(self, config, data):
        if "stream" in data:
            # Repeated, then cut to whole epochs: `fit` then knows the epoch
            # length from the start (a stream's own length is unknown to
            # tf.data), and a file that fails to decode costs no step.
            steps = data["num_train"] // config["batch_size"]
            return (data["stream"].repeat().batch(config["batch_size"], drop_remainder=True)
                    .take(steps).prefetch(tf.data.AUTOTUNE))
        return datasets_lib.make_dataset(
            data["train"][0], batch_size=config["batch_size"], shuffle=True,
            drop_remainder=True, seed=config["seed"],
        )

    def encoder(self, model):
        return model.encoder

    def export(self, model, path, overwrite=False, teacher=False):
        from keras_ssl.export import export_backbone

        return export_backbone(model, path, overwrite=overwrite, teacher=teacher)

    def load_eval_data(self, dataset, data_dir=None, seed=0):
        return datasets_lib.load(dataset, data_dir=data_dir)

    def eval_data(self, run):
        return run["data"]["labelled"]

    def check_compatible(self, probe_model, data, what):
        from keras_ssl.presets import check_input_shape

        check_input_shape(probe_model, data[0][0].shape[1:], what)

    def probe(self, probe_model, data, fractions=(0.01, 1.0), seed=0, knn=True):
        from keras_ssl import evaluation

        return linear_probes(lambda x: evaluation.extract_features(probe_model, x), data,
                             fractions, seed=seed, knn=knn)

    def new_probe_model(self, config, data):
        return self._encoder(config, self._input_shape(data))

    def evaluate(self, run, config, quick=False):
        from keras_ssl import evaluation

        data = run["data"]
        eval_cfg = config.get("evaluation", {})
        class_names = None
        if data.get("labelled") is None:  # images of your own: labelled ones named
            self.check_evaluation(eval_cfg, run["config"])
            shape = self._input_shape(data)
            data = dict(data)
            data["labelled"], class_names = streams.load_labelled_images(
                eval_cfg["labeled"], image_size=tuple(shape[:2]), channels=int(shape[2]),
                seed=int(run["config"]["seed"]))
        (x_train, y_train), (x_test, y_test) = data["labelled"]
        if quick:  # the machinery at a tiny size: for tests, not for results
            x_train, y_train = x_train[:2000], y_train[:2000]
            x_test, y_test = x_test[:200], y_test[:200]
        labelled = ((x_train, y_train), (x_test, y_test))
        fractions = [float(f) for f in eval_cfg.get("label_fractions", [0.01, 1.0])]
        seed = int(run["config"]["seed"])
        encoder = run["model"].encoder
        # Probes may read intermediate layers (`evaluation.feature_layers`);
        # the random-init baseline is probed at the same layers.
        layers = eval_cfg.get("feature_layers")
        results = {"label_fractions": fractions}
        if class_names is not None:
            results["labeled"] = os.fspath(eval_cfg["labeled"])
        if layers:
            results["feature_layers"] = list(layers)
        results["pretrained"] = self.probe(evaluation.feature_model(encoder, layers), labelled,
                                           fractions, seed=seed)
        keras.utils.set_random_seed(seed + 1)
        random_encoder = self.new_probe_model(run["config"], data)
        results["random_init"] = self.probe(evaluation.feature_model(random_encoder, layers),
                                            labelled, fractions, seed=seed)
        if run["config"].get("init_preset"):  # the starting point, as it was
            start = self._encoder(run["config"], self._input_shape(data), load_weights=True)
            results["init_preset"] = {
                "preset": run["config"]["init_preset"],
                **self.probe(evaluation.feature_model(start, layers), labelled, fractions,
                             seed=seed)}
        if run["config"]["method"] == "distill":
            # The teacher beside its student: accuracy, size and speed.
            teacher = run["model"].teacher
            results["teacher"] = {
                "source": os.fspath(run["config"]["method_kwargs"]["teacher"]),
                **self.probe(evaluation.feature_model(teacher, layers), labelled, fractions,
                             seed=seed),
                **evaluation.inference_cost(teacher, x_test[:2048])}
            results["pretrained"].update(evaluation.inference_cost(encoder, x_test[:2048]))
        smallest = min(fractions)
        x_few, y_few = datasets_lib.label_subset(x_train, y_train, fraction=smallest, seed=seed)
        label = fraction_label(smallest)
        flat_few = x_few.reshape(len(x_few), -1).astype("float32") / 255.0
        flat_test = x_test.reshape(len(x_test), -1).astype("float32") / 255.0
        results["raw_pixels"] = {
            f"linear_probe@{label}": evaluation.linear_probe(
                None, (flat_few, y_few), (flat_test, y_test), precomputed=True
            )
        }
        ft = eval_cfg.get("fine_tune", {})
        epochs = int(ft.get("epochs", 30)) if not quick else 1
        # The pretrained encoder and the scratch baseline share the
        # fine-tuning path (MixUp, CutMix, layer decay, ... when set).
        options = {key: ft[key] for key in FINE_TUNE_OPTIONS if key in ft}
        if quick:
            options.pop("warmup_epochs", None)
        if not quick:  # (a quick run's pretrained fine-tune runs the same path)
            keras.utils.set_random_seed(seed + 2)
            _, acc = evaluation.fine_tune(
                self.new_probe_model(run["config"], data), (x_few, y_few), (x_test, y_test),
                epochs=epochs, learning_rate=float(ft.get("scratch_learning_rate", 1e-3)),
                verbose=0, seed=seed, **options,
            )
            results["supervised_scratch"] = {f"accuracy@{label}": acc}
        keras.utils.set_random_seed(seed + 3)
        _, acc = evaluation.fine_tune(
            encoder, (x_few, y_few), (x_test, y_test), epochs=epochs,
            learning_rate=float(ft.get("learning_rate", 1e-3)), verbose=0, seed=seed, **options,
        )
        results["pretrained"][f"fine_tune@{label}"] = acc
        results["plots"] = self.plots(run, (x_test, y_test), class_names=class_names)
        return results

    def plots(self, run, test, class_names=None):
        """Embedding projection, retrieval grid, reconstructions (generative
        methods) as PNGs in the run folder, and TensorBoard Embedding
        Projector files in its `logs/`; returns the PNG names."""
        import matplotlib.pyplot as plt

        from keras_ssl import evaluation, visualize

        model, run_dir, dataset = run["model"], run["run_dir"], run["config"]["dataset"]
        x_test, y_test = test
        names = []

        def keep(fig, name):
            plt.close(fig)
            names.append(name)

        x, y = x_test[:2000], y_test[:2000]
        features = evaluation.extract_features(model.encoder, x)
        class_names = class_names or datasets_lib.info(dataset)["class_names"]
        keep(visualize.plot_embeddings(features, y, class_names=class_names,
                                       path=os.path.join(run_dir, "embeddings_pca.png")),
             "embeddings_pca.png")
        queries = [int(np.flatnonzero(y == c)[0]) for c in np.unique(y)[:4]]
        gallery = np.setdiff1d(np.arange(len(x)), queries)
        keep(visualize.plot_retrieval(
            (features[queries], features[gallery]), x[queries], x[gallery], k=6,
            gallery_labels=[class_names[int(c)] for c in y[gallery]],
            query_labels=[class_names[int(c)] for c in y[queries]],
            path=os.path.join(run_dir, "retrieval.png")), "retrieval.png")
        if hasattr(model, "tokenizer"):
            ids = model.tokenizer.encode(x[:8])
            keep(visualize.plot_tokens(x[:8], ids, np.asarray(model.tokenizer.decode(ids)),
                                       path=os.path.join(run_dir, "tokens.png")), "tokens.png")
        if hasattr(model, "reconstruct"):
            images, masked, reconstructed = model.reconstruct(x[:8])
            keep(visualize.plot_reconstructions(
                images, masked, reconstructed,
                path=os.path.join(run_dir, "reconstructions.png")), "reconstructions.png")
        evaluation.write_projector(os.path.join(run_dir, "logs"), features, labels=y,
                                   images=x, class_names=class_names)
        return names

    def results_table(self, results):
        fractions = results["label_fractions"]
        columns = probe_columns(fractions)
        smallest = fraction_label(min(fractions))
        columns.append((f"fine_tune@{smallest}", f"fine-tune, {smallest} labels"))
        rows = [
            (f"{results.get('method', 'self-supervised')}-pretrained encoder",
             results.get("pretrained", {})),
            ("random-init encoder (same architecture)", results.get("random_init", {})),
            *starting_point_rows(results),
            ("logistic regression on raw pixels", results.get("raw_pixels", {})),
            ("supervised from scratch (same architecture)",
             {f"fine_tune@{smallest}":
              results.get("supervised_scratch", {}).get(f"accuracy@{smallest}")}),
        ]
        if results.get("teacher"):
            rows.insert(0, (f"teacher (`{results['teacher']['source']}`)", results["teacher"]))
        lines = table_lines(columns, rows)
        if results.get("teacher"):
            lines += teacher_cost_lines(results, "images")
        if results.get("labeled"):
            lines += ["", f"Evaluated on the labelled images of `{results['labeled']}` (one "
                      "sub-folder per class), split 80/20 per class into training and test "
                      "images."]
        if results.get("feature_layers"):
            lines += ["", "Probes and kNN read the encoder at layers "
                      + ", ".join(f"`{name}`" for name in results["feature_layers"])
                      + " (average-pooled, concatenated), for both encoders."]
        return "\n".join(lines)

    readme_columns = ("linear probe 1%", "linear probe 100%", "fine-tune 1%",
                      "random-init probe 1%", "raw-pixel probe 1%", "supervised scratch 1%",
                      "pretraining")

    def readme_row(self, name, results):
        from keras_ssl import zoo

        def cell(section, key):
            return result_cell(results, section, key)

        pre = results["pretrain"]
        return (
            f"| [{name}](models/{name}/) | {cell('pretrained', 'linear_probe@1%')} "
            f"| {cell('pretrained', 'linear_probe@100%')} "
            f"| {cell('pretrained', 'fine_tune@1%')} "
            f"| {cell('random_init', 'linear_probe@1%')} "
            f"| {cell('raw_pixels', 'linear_probe@1%')} "
            f"| {cell('supervised_scratch', 'accuracy@1%')} "
            f"| {zoo.epochs_run(pre, zoo._recipe_batch_size(name))} epochs, "
            f"{pre['pretrain_seconds'] / 60:.1f} min, "
            f"{results.get('hardware', {}).get('cpu_count', '?')} CPU cores "
            f"| `{results['command']}` |"
        )


IMAGE = register(ImageModality())
