"""Text: BERT masked-language-model pretraining on a corpus of lines.

Evaluation protocol of a text recipe (SMS spam, stratified train/test
split, test set): for each label fraction,
* a linear probe (logistic regression) on frozen features, the mean of the
  encoder's token embeddings over the non-padding tokens, and kNN;
* the whole BERT fine-tuned with a softmax head (`text_classifier`);
and both for the same architecture randomly initialised.
"""

import math
import os

import keras
import numpy as np
import tensorflow as tf

from keras_ssl.modalities.base import Modality
from keras_ssl.modalities.base import format_value
from keras_ssl.modalities.base import fraction_label
from keras_ssl.modalities.base import register
from keras_ssl.modalities.base import linear_probes
from keras_ssl.utils import check_choice

BACKBONES = ("bert_tiny", "bert_small")


def text_features(mlm, texts, batch_size=256):
    """Mean of the encoder's token embeddings over non-padding tokens: (N, H).

    `mlm` is a `MaskedLanguageModel` (its tokenizer, packer and backbone
    are used); `texts` an array of strings.
    """
    @tf.function(reduce_retracing=True)
    def embed(batch):
        token_ids, padding_mask = mlm.pack(batch)
        outputs = mlm.backbone({"token_ids": token_ids,
                                "segment_ids": tf.zeros_like(token_ids),
                                "padding_mask": padding_mask}, training=False)
        mask = tf.cast(padding_mask, outputs["sequence_output"].dtype)[..., None]
        total = tf.reduce_sum(outputs["sequence_output"] * mask, axis=1)
        return tf.cast(total / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0), "float32")

    texts = np.asarray(texts, dtype=object)
    parts = [embed(tf.constant(list(texts[i:i + batch_size]), tf.string)).numpy()
             for i in range(0, len(texts), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, mlm.backbone.hidden_dim), "float32")


class TextModality(Modality):
    name = "text"
    methods = {"mlm": {"batch_size": 64, "learning_rate": 5e-4, "backbone": "bert_tiny",
                       "epochs": 3}}
    options = {"min_length": 20, "vocabulary_size": 8000, "vocabulary_texts": None,
               "sequence_length": 64, "held_out_fraction": 0.02}
    precisions = ("float32",)
    weight_decay = 0.01
    export_dirname = "text_encoder"
    quick = {"epochs": 1, "limit": 2000}
    demo = {"epochs": 2, "limit": 8000, "vocabulary_size": 2000, "sequence_length": 32}
    table_title = ("Text (SMS spam, test accuracy; the fine-tuning columns give accuracy / "
                   "macro F1):")

    def default_dataset(self):
        return None  # keras_ssl.datasets.read_texts' default: Shakespeare

    def configure(self, config):
        if config.get("dataset") == "sms_spam":
            raise ValueError(
                "`dataset` 'sms_spam' is the labelled evaluation set of text methods; "
                "pretrain on a corpus: a text file or folder, or None for Shakespeare."
            )
        config = super().configure(config)
        check_choice("backbone", config["backbone"], BACKBONES)
        if config.get("jit_compile") is True:
            raise ValueError(
                "`jit_compile` True cannot be used with method 'mlm': it tokenizes inside "
                "its train step, which XLA cannot compile."
            )
        return config

    def load_data(self, config, data_dir=None):
        from keras_ssl import text
        from keras_ssl.datasets import read_texts

        options = config["options"]
        texts = read_texts(config["dataset"], min_length=options["min_length"])
        order = np.random.default_rng(config["seed"]).permutation(len(texts))
        texts = [texts[i] for i in order]
        if config.get("limit"):
            texts = texts[: int(config["limit"])]
        held_out = texts[: max(16, int(len(texts) * options["held_out_fraction"]))]
        train = texts[len(held_out):]
        if len(train) < config["batch_size"]:
            raise ValueError(
                f"The corpus has {len(train)} training texts, fewer than `batch_size` "
                f"({config['batch_size']})."
            )
        tokenizer = text.train_wordpiece(
            train, vocabulary_size=options["vocabulary_size"], lowercase=True,
            max_texts=options["vocabulary_texts"],
        )
        return {"train": train, "held_out": held_out, "num_train": len(train),
                "tokenizer": tokenizer}

    def _mlm(self, config, tokenizer):
        from keras_ssl import backbones, methods

        builder = {"bert_tiny": backbones.BertTiny, "bert_small": backbones.BertSmall}
        length = config["options"]["sequence_length"]
        bert = builder[config["backbone"]](tokenizer.vocabulary_size(),
                                           max_sequence_length=length,
                                           **config.get("backbone_kwargs", {}))
        return methods.MaskedLanguageModel(bert, tokenizer, sequence_length=length,
                                           **config.get("method_kwargs", {}))

    def build_model(self, config, data):
        return self._mlm(config, data["tokenizer"])

    def train_dataset(self, config, data):
        return (tf.data.Dataset.from_tensor_slices(data["train"])
                .shuffle(len(data["train"]), seed=config["seed"])
                .batch(int(config["batch_size"]), drop_remainder=True)
                .prefetch(tf.data.AUTOTUNE))

    def finish(self, model, data, config, run_dir, history):
        from keras_ssl import text

        text.save_vocabulary(model.tokenizer, os.path.join(run_dir, "vocabulary.txt"))
        held = model.evaluate(
            tf.data.Dataset.from_tensor_slices(data["held_out"]).batch(config["batch_size"]),
            verbose=0, return_dict=True)
        return {
            "train_masked_accuracy": float(history.get("masked_accuracy", [float("nan")])[-1]),
            "held_out_masked_accuracy": float(held["masked_accuracy"]),
            "held_out_perplexity": float(held["perplexity"]),
            "num_texts": len(data["train"]),
            "num_held_out": len(data["held_out"]),
            "vocabulary_size": int(model.tokenizer.vocabulary_size()),
        }

    def encoder(self, model):
        return model.backbone

    def export(self, model, path, overwrite=False, teacher=False):
        from keras_ssl.export_text import export_text_encoder

        if teacher:
            raise ValueError("`teacher`=True: text methods have no momentum teacher.")

        return export_text_encoder(model, path, overwrite=overwrite)

    def save_preset(self, model, path, card=None, overwrite=False, **info):
        from keras_ssl import presets

        return presets.save(model.backbone, path, card=card, tokenizer=model.tokenizer,
                            overwrite=overwrite, modality=self.name,
                            sequence_length=model.sequence_length, **info)

    def probe_model(self, model):
        return model

    def probe_model_from_preset(self, path, manifest):
        from keras_ssl import methods, presets
        from keras_ssl.backbones import Backbone

        backbone = Backbone.from_preset(path, verify=False)
        tokenizer = presets.load_tokenizer(path, verify=False)
        return methods.MaskedLanguageModel(backbone, tokenizer,
                                           sequence_length=manifest["sequence_length"])

    def load_eval_data(self, dataset, data_dir=None, seed=0):
        from keras_ssl import datasets

        check_choice("dataset", dataset or "sms_spam", ("sms_spam",))
        return datasets.load_sms_spam(seed=seed)

    def eval_dataset(self, dataset):
        return "sms_spam"

    def eval_data(self, run):
        return self.load_eval_data("sms_spam", seed=int(run["config"]["seed"]))

    def probe(self, probe_model, data, fractions=(0.01, 1.0), seed=0, knn=True):
        return linear_probes(lambda x: text_features(probe_model, x), data, fractions,
                             seed=seed, knn=knn)

    def new_probe_model(self, config, data):
        return self._mlm(config, data["tokenizer"])

    def evaluate(self, run, config, quick=False):
        from keras_ssl import datasets, evaluation

        eval_cfg = config.get("evaluation", {})
        fractions = [float(f) for f in eval_cfg.get("label_fractions", [0.01, 0.1, 1.0])]
        seed = int(run["config"]["seed"])
        (x_train, y_train), (x_test, y_test) = self.eval_data(run)
        if quick:  # the machinery at a tiny size: for tests, not for results
            x_train, y_train = x_train[:600], y_train[:600]
            x_test, y_test = x_test[:100], y_test[:100]
        labelled = ((x_train, y_train), (x_test, y_test))
        batch_size = int(eval_cfg.get("batch_size", 32))
        min_steps = 2 if quick else int(eval_cfg.get("min_steps", 300))
        min_epochs = 1 if quick else int(eval_cfg.get("min_epochs", 3))
        results = {"label_fractions": fractions, "pretrained": {}, "random_init": {},
                   "sequence_length": run["model"].sequence_length}
        keras.utils.set_random_seed(seed + 1)
        random_model = self.new_probe_model(run["config"], run["data"])
        models = {"pretrained": run["model"], "random_init": random_model}
        for name, model in models.items():
            results[name].update(self.probe(model, labelled, fractions, seed=seed))
        for fraction in fractions:
            label = fraction_label(fraction)
            xs, ys = (x_train, y_train) if fraction >= 1.0 else datasets.label_subset(
                x_train, y_train, fraction=fraction, seed=seed)
            epochs = max(min_epochs, math.ceil(min_steps * batch_size / len(xs)))
            if quick:
                epochs = 1
            for name, model in models.items():
                keras.utils.set_random_seed(seed + 7)
                clf = evaluation.text_classifier(
                    model, num_classes=2,
                    learning_rate=float(eval_cfg.get("learning_rate", 2e-4)))
                clf.fit(xs, ys, epochs=epochs, batch_size=batch_size, verbose=0)
                predictions = np.argmax(clf.predict(x_test, batch_size=256, verbose=0), axis=-1)
                report = evaluation.classification_report(y_test, predictions)
                results[name][f"accuracy@{label}"] = report["accuracy"]
                results[name][f"macro_f1@{label}"] = report["macro_f1"]
                results[name][f"epochs@{label}"] = epochs
        results["plots"] = self.plots(run, (x_test, y_test))
        return results

    def plots(self, run, test):
        """A PCA of SMS embeddings (PNG) and TensorBoard Embedding Projector
        files in the run's `logs/`; returns the PNG names."""
        import matplotlib.pyplot as plt

        from keras_ssl import evaluation, visualize

        x, y = test[0][:2000], test[1][:2000]
        features = text_features(run["model"], x)
        plt.close(visualize.plot_embeddings(
            features, y, class_names=["ham", "spam"],
            path=os.path.join(run["run_dir"], "embeddings_pca.png")))
        evaluation.write_projector(os.path.join(run["run_dir"], "logs"), features,
                                   labels=y, class_names=["ham", "spam"])
        return ["embeddings_pca.png"]

    def headline(self, results):
        parts = []
        for fraction in results.get("label_fractions", []):
            label = fraction_label(fraction)
            probe = results.get("pretrained", {}).get(f"linear_probe@{label}")
            if probe is not None:
                parts.append(f"probe@{label} {probe:.3f}")
            value = results.get("pretrained", {}).get(f"accuracy@{label}")
            if value is not None:
                parts.append(f"fine-tune@{label} {value:.3f}")
        return ", ".join(parts)

    def results_table(self, results):
        fractions = results["label_fractions"]
        header = ["encoder"]
        for f in fractions:
            header += [f"linear probe, {fraction_label(f)} labels"]
        for f in fractions:
            header += [f"fine-tune accuracy, {fraction_label(f)} labels",
                       f"fine-tune macro F1, {fraction_label(f)} labels"]
        lines = ["| " + " | ".join(header) + " |", "|---|" + "---|" * (len(header) - 1)]
        for row, key in (("MLM-pretrained BERT", "pretrained"),
                         ("randomly initialised BERT (same architecture)", "random_init")):
            values = results.get(key, {})
            cells = [format_value(values.get(f"linear_probe@{fraction_label(f)}"))
                     for f in fractions]
            for f in fractions:
                for metric in ("accuracy", "macro_f1"):
                    cells.append(format_value(values.get(f"{metric}@{fraction_label(f)}")))
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
        pre = results["pretrain"]
        lines += [
            "",
            f"Masked-token accuracy after pretraining: {pre['train_masked_accuracy']:.4f} "
            f"(training batches), {pre['held_out_masked_accuracy']:.4f} (held-out lines); "
            f"held-out perplexity {pre['held_out_perplexity']:.4f}"
            + (f"; {pre['examples_per_second'] * results.get('sequence_length', 0):.0f} "
               "tokens/s in the MLM train step." if results.get("sequence_length") else "."),
        ]
        return "\n".join(lines)

    readme_columns = ("linear probe 1%", "1% labels", "10% labels", "100% labels",
                      "random-init probe 1%", "random-init 1%", "random-init 10%",
                      "random-init 100%", "pretraining")

    def readme_row(self, name, results):
        def pair(section, label):
            acc = results[section].get(f"accuracy@{label}")
            f1 = results[section].get(f"macro_f1@{label}")
            return "–" if acc is None else f"{acc:.4f} / {f1:.4f}"

        def probe(section):
            return format_value(results[section].get("linear_probe@1%"))

        pre = results["pretrain"]
        return (
            f"| [{name}](models/{name}/) | {probe('pretrained')} | {pair('pretrained', '1%')} "
            f"| {pair('pretrained', '10%')} | {pair('pretrained', '100%')} "
            f"| {probe('random_init')} | {pair('random_init', '1%')} "
            f"| {pair('random_init', '10%')} | {pair('random_init', '100%')} "
            f"| {pre['steps']} steps, {pre['pretrain_seconds'] / 60:.1f} min, "
            f"masked-token accuracy {pre['held_out_masked_accuracy']:.4f} "
            f"| `{results['command']}` |"
        )


TEXT = register(TextModality())
