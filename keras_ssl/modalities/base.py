"""The modality registry: what differs between images, text and the rest.

One run path serves every kind of data. `training.pretrain`, `probe`,
`export`, the zoo's `run_recipe`, its results tables and the `keras-ssl`
command do the shared work (run folder, config, callbacks, resumable `fit`,
atomic saves, time budget, results JSON) and ask a `Modality` for the part
that depends on the data: which methods and backbones exist, how data is
loaded and batched, how the method is built, how its encoder is exported,
probed and evaluated, and how its results read in a table.

Adding a modality is: a subclass of `Modality`, `register(...)` it, a loader
in `keras_ssl.datasets`, a recipe folder under `models/` and tests.
"""

import numpy as np

from keras_ssl.utils import check_choice

_REGISTRY = {}


class Modality:
    """One kind of data: the hooks the shared run path calls.

    Subclasses set the class attributes and implement the methods that
    raise `NotImplementedError`.
    """

    #: registry key, e.g. "image"
    name = None
    #: method name -> defaults for `batch_size`, `learning_rate`, `backbone`
    methods = {}
    #: extra `pretrain` keyword options of this modality, with defaults
    options = {}
    #: Keras dtype policies a run of this modality can use
    precisions = ("float32",)
    #: AdamW weight decay of `pretrain`'s optimizer
    weight_decay = 1e-4
    #: sub-folder of a run holding the serving export
    export_dirname = "encoder"
    #: overrides for `run_recipe(quick=True)` (machinery tests)
    quick = {"epochs": 1}
    #: `pretrain` settings of `keras-ssl demo` for this modality's methods
    demo = {}
    #: heading above this modality's table in the README
    table_title = None

    # -- configuration ---------------------------------------------------

    def default_dataset(self):
        raise NotImplementedError

    def configure(self, config):
        """Fill defaults into a run config and validate it before any work.

        Raises ValueError (naming the argument) for unknown names.
        """
        if config.get("init_preset") is not None:
            self._configure_init_preset(config)
        defaults = self.methods[config["method"]]
        for key in ("batch_size", "learning_rate", "backbone", "epochs"):
            if config.get(key) is None and key in defaults:
                config[key] = defaults[key]
        if config.get("dataset") is None:
            config["dataset"] = self.default_dataset()
        unknown = sorted(set(config["options"]) - set(self.options))
        if unknown:
            raise ValueError(
                f"Unknown option(s) {unknown} for {self.name} methods; expected any of "
                f"{sorted(self.options)}."
            )
        config["options"] = {**self.options, **config["options"]}
        if config["precision"] not in self.precisions:
            raise ValueError(
                f"`precision` {config['precision']!r} cannot be used with {self.name} "
                f"methods; expected one of {', '.join(map(repr, self.precisions))}."
            )
        return config

    def _configure_init_preset(self, config):
        """A run that continues from a preset (`init_preset`): the preset
        is verified, must hold an encoder of this modality, and fixes the
        backbone. Runs before the modality's option defaults are filled in,
        so `check_init_preset` sees only the options the user gave."""
        from keras_ssl import presets

        preset = config["init_preset"]
        if config.get("backbone") is not None:
            raise ValueError(
                f"Pass `backbone` or `init_preset`, not both: the preset {preset!r} fixes the "
                f"backbone (got backbone={config['backbone']!r})."
            )
        path = presets.resolve(preset, verify=True)
        manifest = presets.read_manifest(path)
        held = manifest.get("modality", "image")
        if held != self.name:
            raise ValueError(
                f"`init_preset` {preset!r} holds a {held} encoder; method "
                f"{config['method']!r} pretrains {self.name} encoders."
            )
        config["backbone"] = presets.backbone_name(preset, manifest) or manifest.get("class_name")
        config["init_preset_sha256"] = manifest.get("files", {}).get(presets.WEIGHTS_FILE)
        self.check_init_preset(config, manifest)

    def check_init_preset(self, config, manifest):
        """Raise a clear error when the method of `config` cannot start from
        the preset of `manifest`; fill the options the preset fixes."""
        raise ValueError(f"`init_preset`: {self.name} methods cannot start from a preset.")

    def preset_encoder(self, config, load_weights=True):
        """The encoder of the run's `init_preset`: its weights, or
        (`load_weights=False`) the same architecture randomly initialised."""
        from keras_ssl.backbones import Backbone

        return Backbone.from_preset(config["init_preset"], load_weights=load_weights,
                                    verify=False)

    # -- pretraining -----------------------------------------------------

    def load_data(self, config, data_dir=None):
        """Everything the run needs: a dict with at least `train` (what
        `train_dataset` batches) and `num_train`."""
        raise NotImplementedError

    def build_model(self, config, data):
        """The pretraining method (a `keras.Model` with `train_step`)."""
        raise NotImplementedError

    def train_dataset(self, config, data):
        raise NotImplementedError

    def finish(self, model, data, config, run_dir, history):
        """After `fit`: extra summary figures (and files) of the run;
        `history` maps metric names to per-epoch values."""
        return {}

    def encoder(self, model):
        """The backbone of a trained method (what presets and probes use)."""
        raise NotImplementedError

    def export(self, model, path, overwrite=False, teacher=False):
        """Write the serving SavedModel of a trained method (its momentum
        teacher's encoder with `teacher=True`, where it has one)."""
        raise NotImplementedError

    def save_preset(self, model, path, card=None, overwrite=False, **info):
        from keras_ssl import presets

        return presets.save(self.encoder(model), path, card=card, overwrite=overwrite,
                            modality=self.name, **info)

    # -- evaluation ------------------------------------------------------

    def load_eval_data(self, dataset, data_dir=None, seed=0):
        """Labelled ((x_train, y_train), (x_test, y_test)) for probes."""
        raise NotImplementedError

    def eval_data_for(self, probe_model, dataset, data_dir=None, seed=0):
        """The labelled data `probe_model` is probed on (`keras-ssl probe`):
        `load_eval_data`'s, unless the data's form depends on the model
        (video clips are made at the encoder's frames and size)."""
        return self.load_eval_data(dataset, data_dir=data_dir, seed=seed)

    def eval_data(self, run):
        """The labelled data a finished `pretrain` run is evaluated on."""
        raise NotImplementedError

    def eval_dataset(self, dataset):
        """The labelled dataset that goes with pretraining data `dataset`."""
        return dataset

    def plots(self, run, test):
        """PNGs (and TensorBoard projector files) of a finished run; returns
        the PNG names."""
        return []

    def demo_lines(self, run):
        """Lines `keras-ssl demo` prints about a finished run (e.g. generated
        text); none by default."""
        return []

    def probe_model(self, model):
        """What `probe` takes from a trained method (default: its encoder)."""
        return self.encoder(model)

    def probe_model_from_preset(self, path, manifest):
        from keras_ssl.backbones import Backbone

        return Backbone.from_preset(path, verify=False)

    def distillation_teacher(self, config):
        """The frozen teacher a distillation run names in `method_kwargs`
        `teacher`: a finished pretraining run folder of this modality (what
        its probes read, `probe_model`) or a preset of it (a zoo name or a
        preset folder, `probe_model_from_preset`)."""
        import os

        from keras_ssl import presets, training

        method = config["method"]
        source = config.get("method_kwargs", {}).get("teacher")
        if not source:
            raise ValueError(
                f"Method {method!r} needs a teacher: `method_kwargs` {{\"teacher\": RUN or "
                "PRESET}, a pretraining run folder or a zoo preset (keras-ssl distill "
                "--teacher ...).")
        source = os.fspath(source)
        run = os.path.isdir(source) and os.path.exists(os.path.join(source, "model.keras"))
        if run:
            model, _, modality = training.load_run(source)
            kind = modality.name
        else:
            path = presets.resolve(source)
            manifest = presets.read_manifest(path)
            kind = manifest.get("modality", "image")
        if kind != self.name:
            raise ValueError(f"`teacher` {source!r} holds a {kind} encoder; method {method!r} "
                             f"distills a {self.name} encoder.")
        return self.probe_model(model) if run else self.probe_model_from_preset(path, manifest)

    def check_compatible(self, probe_model, data, what):
        """Raise a clear error when `probe_model` cannot take `data`."""

    def probe(self, probe_model, data, fractions=(0.01, 1.0), seed=0, knn=True):
        """Linear probe (and kNN) accuracy for each label fraction."""
        raise NotImplementedError

    def new_probe_model(self, config, data):
        """The same architecture, randomly initialised (a baseline)."""
        raise NotImplementedError

    #: the `evaluation` settings a recipe of this modality may use (None:
    #: not checked)
    evaluation_settings = None

    def check_evaluation(self, evaluation_config, config=None):
        """Raise a clear error for a recipe's unknown `evaluation` settings
        (called before pretraining, so a typo costs no run); `config`, the
        whole recipe, where a setting depends on the rest of it."""
        if self.evaluation_settings is None:
            return
        unknown = set(evaluation_config) - set(self.evaluation_settings)
        if unknown:
            raise ValueError(
                f"Unknown `evaluation` settings {sorted(unknown)}; expected some of "
                f"{sorted(self.evaluation_settings)}."
            )

    def evaluate(self, run, config, quick=False):
        """The recipe protocol: the results dict (without the common keys)."""
        raise NotImplementedError

    # -- tables ----------------------------------------------------------

    def headline(self, results):
        """Short text of the main numbers (for `keras-ssl zoo list`)."""
        parts = []
        for fraction in results.get("label_fractions", []):
            value = results.get("pretrained", {}).get(f"linear_probe@{fraction * 100:g}%")
            if value is not None:
                parts.append(f"probe@{fraction * 100:g}% {value:.3f}")
        return ", ".join(parts)

    def results_table(self, results):
        """Markdown table of one recipe's results (its model card)."""
        raise NotImplementedError

    #: titles of the README table's columns between `recipe` and `reproduce`
    readme_columns = ()

    def readme_header(self):
        """Header lines of this modality's table in the README."""
        columns = ("recipe",) + tuple(self.readme_columns) + ("reproduce",)
        return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]

    def readme_row(self, name, results):
        raise NotImplementedError


def fraction_label(fraction):
    return f"{float(fraction) * 100:g}%"


def format_value(value):
    return f"{value:.4f}" if isinstance(value, (int, float)) else "–"


def result_cell(results, section, key):
    """`results[section][key]` formatted for a table ("–" when absent)."""
    return format_value(results.get(section, {}).get(key))


def probe_columns(fractions):
    """(key, title) columns of the linear probe and kNN at each fraction."""
    columns = [(f"linear_probe@{fraction_label(f)}", f"linear probe, {fraction_label(f)} labels")
               for f in fractions]
    return columns + [(f"knn@{fraction_label(f)}", f"kNN, {fraction_label(f)} labels")
                      for f in fractions]


def starting_point_rows(results):
    """Card rows of a run that continued from a preset: the preset as it
    was (`results["init_preset"]`) and the same recipe pretrained from
    random weights (`results["scratch"]`, another recipe's numbers); and
    of a recipe compared with another way to pretrain the same encoder
    (`results["baseline"]`, e.g. a distilled student against the student
    pretrained directly)."""
    rows = []
    if results.get("init_preset"):
        rows.append((f"`{results['init_preset']['preset']}` as it was (the starting point)",
                     results["init_preset"]))
    if results.get("scratch"):
        name = results["scratch"]["recipe"]
        rows.append((f"the same recipe from random weights ([{name}](../{name}/))",
                     results["scratch"]))
    if results.get("baseline"):
        name = results["baseline"]["recipe"]
        rows.append((f"the same encoder pretrained directly ([{name}](../{name}/))",
                     results["baseline"]))
    return rows


def teacher_cost_lines(results, unit):
    """Card lines putting a distillation's teacher (`results["teacher"]`)
    and its student side by side: parameters and `unit`s ("images",
    "texts") per second at inference (`evaluation.inference_cost`)."""
    lines = ["", f"| encoder | parameters | {unit}/s at inference |", "|---|---|---|"]
    for name, values in (("teacher", results["teacher"]),
                         ("distilled student", results.get("pretrained", {}))):
        lines.append(f"| {name} | {values['parameters']:,} "
                     f"| {values[f'{unit}_per_second']:,.0f} |")
    return lines


def table_lines(columns, rows, first="encoder"):
    """Markdown table lines: `columns` are (key, title) pairs, `rows`
    (name, values dict) pairs."""
    lines = [f"| {first} | " + " | ".join(title for _, title in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for name, values in rows:
        cells = [format_value(values.get(key)) for key, _ in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def subset_indices(y, fraction, seed):
    """Indices of a class-stratified label subset (as datasets.label_subset)."""
    from keras_ssl import datasets

    if fraction >= 1.0:
        return np.arange(len(y))
    chosen, _ = datasets.label_subset(np.arange(len(y)), y, fraction=fraction, seed=seed)
    return np.asarray(chosen)


def linear_probes(extract, data, fractions, seed=0, knn=True):
    """Linear probe (and kNN) accuracy of features for each label fraction.

    `extract(x)` maps inputs to (N, D) features; `data` is
    ((x_train, y_train), (x_test, y_test)). Only the training inputs of
    the largest fraction are embedded. Shared by every modality.
    """
    from keras_ssl import evaluation

    (x_train, y_train), (x_test, y_test) = data
    subsets = {fraction: subset_indices(y_train, fraction, seed) for fraction in fractions}
    needed = np.unique(np.concatenate(list(subsets.values())))
    position = np.full(len(y_train), -1)
    position[needed] = np.arange(len(needed))
    features_train = extract(x_train[needed])
    features_test = extract(x_test)
    results = {}
    for fraction, idx in subsets.items():
        label = fraction_label(fraction)
        train = (features_train[position[idx]], y_train[idx])
        results[f"linear_probe@{label}"] = evaluation.linear_probe(
            None, train, (features_test, y_test), precomputed=True
        )
        if knn:
            results[f"knn@{label}"] = evaluation.knn_accuracy(
                None, train, (features_test, y_test), precomputed=True
            )
    return results


def register(modality):
    """Add a `Modality` instance to the registry (its methods become known)."""
    for method in modality.methods:
        for other in _REGISTRY.values():
            if method in other.methods:
                raise ValueError(
                    f"Method {method!r} is already registered by modality {other.name!r}."
                )
    _REGISTRY[modality.name] = modality
    return modality


def get(name):
    """The registered modality `name`."""
    check_choice("modality", name, sorted(_REGISTRY))
    return _REGISTRY[name]


def all_modalities():
    return list(_REGISTRY.values())


def available_methods():
    """Every method name of every registered modality."""
    return [method for modality in _REGISTRY.values() for method in modality.methods]


def for_method(method):
    """The modality that pretrains with `method`."""
    check_choice("method", method, available_methods())
    return next(m for m in _REGISTRY.values() if method in m.methods)


def of_results(results):
    """The modality a results dict (or recipe config) belongs to."""
    name = results.get("modality") or results.get("kind")
    if name is None and results.get("method") in available_methods():
        return for_method(results["method"])
    return get(name or "image")
