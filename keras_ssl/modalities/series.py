"""Time series: CPC and wav2vec 2.0 on the UCR/UEA archive's sets.

Evaluation protocol of a series recipe (the archive's own train/test
split, test set):
* a linear probe (frozen encoder, logistic regression on pooled features)
  with each label fraction (class-stratified, fixed seed), and kNN;
* the same probes on a randomly initialised encoder of the same
  architecture;
* logistic regression on the raw series, each resampled to the longest
  length and flattened, with the same labels.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from keras_ssl.modalities.base import Modality
from keras_ssl.modalities.base import linear_probes
from keras_ssl.modalities.base import probe_columns
from keras_ssl.modalities.base import register
from keras_ssl.modalities.base import result_cell
from keras_ssl.modalities.base import starting_point_rows
from keras_ssl.modalities.base import table_lines
from keras_ssl.utils import check_choice

BACKBONES = ("tcn",)


def method_class(name):
    from keras_ssl import methods

    classes = {"cpc": methods.CPC, "wav2vec2": methods.Wav2Vec2}
    check_choice("method", name, sorted(classes))
    return classes[name]


def resample_flat(x, lengths, length=None):
    """The plain baseline's features: each series' valid part linearly
    resampled to `length` steps (default: the longest) and flattened."""
    length = int(length or x.shape[1])
    grid = np.linspace(0.0, 1.0, length)
    out = np.empty((len(x), length, x.shape[2]), "float32")
    for i, n in enumerate(lengths):
        n = max(int(n), 1)
        source = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)
        for c in range(x.shape[2]):
            out[i, :, c] = np.interp(grid, source, x[i, :n, c])
    return out.reshape(len(x), -1)


class SeriesModality(Modality):
    name = "series"
    evaluation_settings = ("label_fractions",)
    methods = {
        "cpc": {"batch_size": 32, "learning_rate": 1e-3, "backbone": "tcn", "epochs": 100},
        "wav2vec2": {"batch_size": 32, "learning_rate": 5e-4, "backbone": "tcn", "epochs": 100},
    }
    options = {"fill_missing": False}
    precisions = ("float32", "mixed_float16", "mixed_bfloat16")
    weight_decay = 1e-4
    export_dirname = "encoder"
    quick = {"epochs": 1}
    demo = {"epochs": 30}
    table_title = ("Time series (UCR/UEA archive sets, test accuracy; the archive's "
                   "train split is the unlabelled pretraining data):")

    def default_dataset(self):
        return "JapaneseVowels"

    def configure(self, config):
        config = super().configure(config)
        if not config.get("init_preset"):  # else the preset's (checked against the method)
            check_choice("backbone", config["backbone"], BACKBONES)
        if config["batch_size"] < 2:
            raise ValueError(
                "`batch_size` must be >= 2 for contrastive series methods (the other series "
                f"of the batch are negatives), got {config['batch_size']}."
            )
        return config

    def load_data(self, config, data_dir=None):
        from keras_ssl import datasets

        train, test = datasets.load_series(config["dataset"], data_dir=data_dir,
                                           return_lengths=True)
        class_names = datasets.series_info(config["dataset"], data_dir=data_dir)["class_names"]
        (x, y, lengths), (x_test, y_test, lengths_test) = train, test
        if config["options"].get("fill_missing"):
            x = datasets.fill_missing(x, lengths)
            x_test = datasets.fill_missing(x_test, lengths_test)
        datasets.check_series(x, name=f"the training series of {config['dataset']}")
        datasets.check_series(x_test, name=f"the test series of {config['dataset']}")
        if config.get("limit") and config["limit"] < len(x):
            keep = np.sort(np.random.default_rng(config["seed"]).choice(
                len(x), size=int(config["limit"]), replace=False))
            x, y, lengths = x[keep], y[keep], lengths[keep]
        if len(x) < config["batch_size"]:
            raise ValueError(
                f"{config['dataset']} has {len(x)} training series, fewer than `batch_size` "
                f"({config['batch_size']})."
            )
        return {"train": x, "num_train": len(x), "lengths": (lengths, lengths_test),
                "class_names": class_names,
                "labelled": ((x, y), (x_test, y_test))}

    def check_init_preset(self, config, manifest):
        if manifest.get("class_name") != "TemporalConvNet":
            raise ValueError(
                f"`init_preset` {config['init_preset']!r} holds a {manifest.get('class_name')}; "
                f"method {config['method']!r} starts from a TemporalConvNet preset."
            )

    def _encoder(self, config, channels, load_weights=False):
        from keras_ssl import backbones

        if config.get("init_preset"):
            encoder = self.preset_encoder(config, load_weights=load_weights)
            if int(encoder.input_shape[-1]) != int(channels):
                raise ValueError(
                    f"`init_preset` {config['init_preset']!r} takes series with "
                    f"{encoder.input_shape[-1]} channel(s); the data has {channels}."
                )
            return encoder
        return backbones.TemporalConvNet(input_shape=(None, int(channels)),
                                         **config.get("backbone_kwargs", {}))

    def build_model(self, config, data):
        encoder = self._encoder(config, data["train"].shape[-1], load_weights=True)
        return method_class(config["method"])(encoder, seed=config["seed"],
                                              **config.get("method_kwargs", {}))

    def train_dataset(self, config, data):
        x = data["train"]
        return (tf.data.Dataset.from_tensor_slices(x)
                .shuffle(len(x), seed=config["seed"])
                .batch(int(config["batch_size"]), drop_remainder=True)
                .prefetch(tf.data.AUTOTUNE))

    def encoder(self, model):
        return model.encoder

    def export(self, model, path, overwrite=False, teacher=False):
        from keras_ssl.export import export_backbone

        if teacher:
            raise ValueError("`teacher`=True: series methods have no momentum teacher.")
        return export_backbone(model, path, overwrite=overwrite)

    def load_eval_data(self, dataset, data_dir=None, seed=0):
        from keras_ssl import datasets

        return datasets.load_series(dataset or self.default_dataset(), data_dir=data_dir)

    def eval_data(self, run):
        return run["data"]["labelled"]

    def check_compatible(self, probe_model, data, what):
        expected = probe_model.input_shape[-1]
        channels = data[0][0].shape[-1]
        if data[0][0].ndim != 3 or expected != channels:
            raise ValueError(
                f"{what} takes series with {expected} channels (input shape "
                f"{tuple(probe_model.input_shape[1:])}), but the data has shape "
                f"{tuple(data[0][0].shape[1:])}."
            )

    def probe(self, probe_model, data, fractions=(0.1, 1.0), seed=0, knn=True):
        from keras_ssl import evaluation

        return linear_probes(lambda x: evaluation.extract_features(probe_model, x), data,
                             fractions, seed=seed, knn=knn)

    def new_probe_model(self, config, data):
        return self._encoder(config, data["train"].shape[-1])

    def evaluate(self, run, config, quick=False):
        data = run["data"]
        (x_train, y_train), (x_test, y_test) = data["labelled"]
        lengths_train, lengths_test = data["lengths"]
        if quick:  # the machinery at a tiny size: for tests, not for results
            x_test, y_test, lengths_test = x_test[:100], y_test[:100], lengths_test[:100]
        labelled = ((x_train, y_train), (x_test, y_test))
        fractions = [float(f) for f in config.get("evaluation", {}).get("label_fractions",
                                                                      [0.1, 1.0])]
        seed = int(run["config"]["seed"])
        results = {"label_fractions": fractions}
        results["pretrained"] = self.probe(run["model"].encoder, labelled, fractions, seed=seed)
        keras.utils.set_random_seed(seed + 1)
        results["random_init"] = self.probe(self.new_probe_model(run["config"], data), labelled,
                                            fractions, seed=seed)
        if run["config"].get("init_preset"):  # the starting point, as it was
            start = self._encoder(run["config"], x_train.shape[-1], load_weights=True)
            results["init_preset"] = {"preset": run["config"]["init_preset"],
                                      **self.probe(start, labelled, fractions, seed=seed)}
        flat_train = resample_flat(x_train, lengths_train)
        flat_test = resample_flat(x_test, lengths_test, length=x_train.shape[1])
        results["raw_series"] = linear_probes(lambda x: x, ((flat_train, y_train),
                                                            (flat_test, y_test)),
                                              fractions, seed=seed, knn=False)
        results["num_classes"] = int(len(np.unique(y_train)))
        results["plots"] = self.plots(run, (x_test, y_test))
        return results

    def plots(self, run, test):
        """A PCA of test-set embeddings (PNG) and TensorBoard Embedding
        Projector files in the run's `logs/`; returns the PNG names."""
        import matplotlib.pyplot as plt

        from keras_ssl import evaluation, visualize

        x, y = test
        class_names = run["data"]["class_names"]
        features = evaluation.extract_features(run["model"].encoder, x)
        plt.close(visualize.plot_embeddings(
            features, y, class_names=class_names,
            path=os.path.join(run["run_dir"], "embeddings_pca.png")))
        evaluation.write_projector(os.path.join(run["run_dir"], "logs"), features, labels=y,
                                   class_names=class_names)
        return ["embeddings_pca.png"]

    def results_table(self, results):
        rows = [
            (f"{results.get('method', 'self-supervised')}-pretrained encoder",
             results.get("pretrained", {})),
            ("random-init encoder (same architecture)", results.get("random_init", {})),
            *starting_point_rows(results),
            ("logistic regression on the raw series (resampled, flattened)",
             results.get("raw_series", {})),
        ]
        return "\n".join(table_lines(probe_columns(results["label_fractions"]), rows))

    readme_columns = ("data", "linear probe 10%", "linear probe 100%", "random-init probe 10%",
                      "raw-series probe 10%", "pretraining")

    def readme_row(self, name, results):
        def cell(section, key):
            return result_cell(results, section, key)

        pre = results["pretrain"]
        return (
            f"| [{name}](models/{name}/) | {results.get('dataset')} "
            f"| {cell('pretrained', 'linear_probe@10%')} "
            f"| {cell('pretrained', 'linear_probe@100%')} "
            f"| {cell('random_init', 'linear_probe@10%')} "
            f"| {cell('raw_series', 'linear_probe@10%')} "
            f"| {pre['epochs_completed']} epochs, {pre['pretrain_seconds'] / 60:.1f} min "
            f"| `{results['command']}` |"
        )


SERIES = register(SeriesModality())
