"""Text: language-model pretraining on a corpus, evaluated on labelled tasks.

Methods: `mlm` (BERT masked-LM), `sop` (masked-LM with ALBERT's
sentence-order prediction), `clm` (GPT causal LM), `simcse` (SimCSE's
dropout views) and `tinybert` (TinyBERT's layer-by-layer distillation of a
pretrained BERT teacher, `method_kwargs` `teacher`: a zoo preset, a preset
folder or a run folder, into a smaller BERT student that keeps the
teacher's tokenizer); BERT or ALBERT backbones (ALBERT with a SentencePiece
vocabulary by default), GPT for `clm`. The corpus
(`dataset`) is a text file or folder, a CSV/TSV file's text column
(`text_column`), None for Shakespeare, or the name of a labelled task,
`"sms_spam"` or `"fortunes"`: domain-adaptive pretraining on that task's
own unlabelled training texts (for fortunes, also the fortune files outside
the task's topics), as ULMFiT does.

Evaluation protocol of a text recipe, on its `task` (SMS spam, or fortunes
by topic; a fixed stratified train/test split, scored on the test set), for
each label fraction:
* a linear probe (logistic regression) on frozen features, the mean of the
  encoder's token embeddings over the non-padding tokens, and kNN;
* the whole transformer fine-tuned with a softmax head (`text_classifier`),
  accuracy and macro F1;
and both for the same architecture randomly initialised, with the same
tokenizer and schedule.
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
from keras_ssl.modalities.base import starting_point_rows
from keras_ssl.modalities.base import teacher_cost_lines
from keras_ssl.modalities.base import linear_probes
from keras_ssl.utils import check_choice

_ENCODERS = ("bert_tiny", "bert_small", "albert_tiny", "albert_small")
BACKBONES = {"mlm": _ENCODERS, "sop": _ENCODERS, "clm": ("gpt_tiny", "gpt_small"),
             "simcse": ("bert_tiny", "bert_small"), "tinybert": ("bert_tiny", "bert_small")}
ARCHITECTURES = {"bert": "BERT", "albert": "ALBERT", "gpt": "GPT", "gpt2": "GPT"}
TASKS = ("sms_spam", "fortunes")
# method -> the keras-hub backbone classes a run can continue from (init_preset)
PRESET_CLASSES = {"mlm": ("BertBackbone", "AlbertBackbone"),
                  "sop": ("BertBackbone", "AlbertBackbone"),
                  "clm": ("GPT2Backbone",), "simcse": ("BertBackbone",),
                  "tinybert": ("BertBackbone",)}
# method -> (short name, its pretext metric in words, the metric's key)
METHOD_NAMES = {"mlm": ("MLM", "masked-token accuracy", "masked_accuracy"),
                "sop": ("MLM + SOP", "masked-token accuracy", "masked_accuracy"),
                "clm": ("causal-LM", "next-token accuracy", "next_token_accuracy"),
                "simcse": ("SimCSE", "contrastive accuracy", "contrastive_accuracy"),
                "tinybert": ("TinyBERT", "hidden-state loss", "hidden_loss")}


def method_class(method):
    """The class and fixed keyword arguments of text method `method`."""
    from keras_ssl import methods

    return {"mlm": (methods.MaskedLanguageModel, {}),
            "sop": (methods.MaskedLanguageModel, {"sentence_task": "sop"}),
            "clm": (methods.CausalLanguageModel, {}),
            "simcse": (methods.SimCSE, {}),
            # A distilled student on its own (probes, presets) is a BERT
            # like any other; `build_method` builds the distillation.
            "tinybert": (methods.MaskedLanguageModel, {})}[method]


def architecture(backbone):
    """"BERT", "ALBERT" or "GPT" for a backbone name such as "bert_tiny"."""
    # A backbone name, or a preset's class name ("BertBackbone").
    family = (backbone or "bert_tiny").split("_")[0].lower().replace("backbone", "")
    return ARCHITECTURES[family]


def held_out_samples(model, texts, seed=0, count=5, words=4, max_length=48):
    """`(prompt, continuation)` pairs of a causal LM: the first `words`
    words of the first `count` held-out texts, continued by top-k sampling
    (k = 10) up to `max_length` tokens (at most the backbone's); prompts
    that leave no room to generate are left out."""
    import keras_hub

    length = min(max_length, model.backbone.max_sequence_length)
    prompts = [" ".join(t.split()[:words]) for t in texts[:count]]
    prompts = [p for p in prompts if len(model.tokenizer(p)) + 1 < length]
    if not prompts:  # keras-hub's generate cannot take an empty batch
        return []
    sampler = keras_hub.samplers.TopKSampler(k=10, seed=seed)
    return list(zip(prompts, model.generate(prompts, max_length=length, sampler=sampler)))


def load_task(task, seed=0, data_dir=None):
    """The labelled data of a text task: `((x_train, y_train), (x_test, y_test))`."""
    from keras_ssl import datasets

    check_choice("task", task, TASKS)
    if task == "sms_spam":
        return datasets.load_sms_spam(seed=seed)
    return datasets.load_fortunes(seed=seed)


def class_names(task):
    from keras_ssl.datasets.text import FORTUNES_TOPICS

    return ["ham", "spam"] if task == "sms_spam" else list(FORTUNES_TOPICS)


def text_features(method, texts, batch_size=256):
    """Frozen features of `texts` for the linear probes: (N, H) float32.

    `method` is a text method; the features are the mean of its token
    embeddings over the non-padding tokens, for every method (BERT's [CLS]
    pooler is not trained by masked-LM).
    """
    return method.embed(texts, batch_size=batch_size, pooling="mean")


class TextModality(Modality):
    name = "text"
    methods = {"mlm": {"batch_size": 64, "learning_rate": 5e-4, "backbone": "bert_tiny",
                       "epochs": 3},
               "sop": {"batch_size": 64, "learning_rate": 5e-4, "backbone": "bert_tiny",
                       "epochs": 3},
               "clm": {"batch_size": 64, "learning_rate": 5e-4, "backbone": "gpt_tiny",
                       "epochs": 3},
               "simcse": {"batch_size": 64, "learning_rate": 3e-4, "backbone": "bert_tiny",
                          "epochs": 3},
               "tinybert": {"batch_size": 64, "learning_rate": 5e-4, "backbone": "bert_tiny",
                            "epochs": 3}}
    options = {"min_length": 20, "vocabulary_size": 8000, "vocabulary_texts": None,
               "sequence_length": 64, "held_out_fraction": 0.02, "task": None,
               "text_column": None, "tokenizer": None}
    precisions = ("float32",)
    # `adversarial`: an attack (e.g. {"name": "fgm", "epsilon": 1.0}) the
    # pretrained encoder is also fine-tuned with, beside plain fine-tuning.
    evaluation_settings = ("label_fractions", "batch_size", "min_steps", "min_epochs",
                           "learning_rate", "adversarial")
    weight_decay = 0.01
    export_dirname = "text_encoder"
    quick = {"epochs": 1, "limit": 512}
    demo = {"epochs": 2, "limit": 8000, "vocabulary_size": 2000, "sequence_length": 32}
    table_title = ("Text (test accuracy on the recipe's task; the fine-tuning columns give "
                   "accuracy / macro F1):")

    def default_dataset(self):
        return None  # keras_ssl.datasets.read_texts' default: Shakespeare

    def check_evaluation(self, evaluation_config, config=None):
        super().check_evaluation(evaluation_config, config)
        if evaluation_config.get("adversarial"):
            from keras_ssl import adversarial

            adversarial.get(evaluation_config["adversarial"], argument="evaluation.adversarial")

    def configure(self, config):
        config = super().configure(config)
        if not config.get("init_preset"):  # else the preset's (checked against the method)
            check_choice("backbone", config["backbone"], BACKBONES[config["method"]])
        if config.get("jit_compile") is True:
            raise ValueError(
                f"`jit_compile` True cannot be used with method {config['method']!r}: it "
                "tokenizes inside its train step, which XLA cannot compile."
            )
        options = config["options"]
        if options["task"] is None:
            options["task"] = config["dataset"] if config["dataset"] in TASKS else "sms_spam"
        check_choice("task", options["task"], TASKS)
        if config["method"] == "tinybert":
            if not config.get("method_kwargs", {}).get("teacher"):
                raise ValueError(
                    "Method 'tinybert' needs a teacher: `method_kwargs` {\"teacher\": RUN or "
                    "PRESET}, a text pretraining run folder or a zoo preset of a BERT "
                    "(keras-ssl distill --mode tinybert --teacher ...).")
            if config.get("init_preset"):
                raise ValueError("`init_preset` cannot be set with method 'tinybert': the "
                                 "student starts from random weights and learns from `teacher`.")
            # The student reads the teacher's tokens.
            options["tokenizer"] = "teacher"
            options["vocabulary_size"] = options["vocabulary_texts"] = None
        elif options["tokenizer"] is None and config.get("init_preset"):
            options["tokenizer"] = "preset"  # the preset's own, loaded with it
            options["vocabulary_size"] = options["vocabulary_texts"] = None
        elif options["tokenizer"] is None:
            # ALBERT's own recipe: a SentencePiece vocabulary.
            albert = config["backbone"].startswith("albert")
            options["tokenizer"] = "sentencepiece" if albert else "wordpiece"
        if not config.get("init_preset") and config["method"] != "tinybert":
            check_choice("tokenizer", options["tokenizer"], ("wordpiece", "sentencepiece"))
        return config

    def check_init_preset(self, config, manifest):
        preset, kind = config["init_preset"], manifest.get("class_name")
        if kind not in PRESET_CLASSES[config["method"]]:
            raise ValueError(
                f"`init_preset` {preset!r} holds a {kind}; method {config['method']!r} starts "
                f"from a {' or '.join(PRESET_CLASSES[config['method']])} preset."
            )
        options = config["options"]
        for key in ("vocabulary_size", "vocabulary_texts", "tokenizer"):
            if options.get(key) is not None:
                raise ValueError(
                    f"`{key}` cannot be set with `init_preset` {preset!r}: the run keeps the "
                    "preset's tokenizer (its embeddings are indexed by that vocabulary)."
                )
        longest = int(manifest["sequence_length"])
        options.setdefault("sequence_length", longest)
        if int(options["sequence_length"]) > longest:
            raise ValueError(
                f"`sequence_length` {options['sequence_length']} is longer than the "
                f"{longest} tokens `init_preset` {preset!r} has position embeddings for."
            )

    def read_corpus(self, config):
        """The pretraining texts of a run config (see the module docstring)."""
        from keras_ssl import datasets
        from keras_ssl.datasets import read_texts

        dataset, options = config["dataset"], config["options"]
        if dataset in TASKS:
            # Domain-adaptive pretraining: the task's training texts without
            # their labels (the test texts are never read).
            (x_train, _), _ = load_task(dataset, seed=int(config["seed"]))
            texts = [t for t in x_train if len(t) >= options["min_length"]]
            if dataset == "fortunes":
                texts += [t for t in datasets.fortunes_corpus()
                          if len(t) >= options["min_length"]]
            return texts
        return read_texts(dataset, min_length=options["min_length"],
                          column=options["text_column"])

    def load_data(self, config, data_dir=None):
        from keras_ssl import text

        options = config["options"]
        texts = self.read_corpus(config)
        order = np.random.default_rng(config["seed"]).permutation(len(texts))
        texts = [texts[i] for i in order]
        # `limit` counts training texts; the held-out share is of the
        # texts used, at least 16.
        limit = int(config["limit"]) if config.get("limit") else None
        used = len(texts) if limit is None else min(len(texts), limit)
        held_out = texts[: max(16, int(used * options["held_out_fraction"]))]
        train = texts[len(held_out):][:limit]
        if len(train) < config["batch_size"]:
            raise ValueError(
                f"The corpus has {len(train)} training texts, fewer than `batch_size` "
                f"({config['batch_size']})."
            )
        teacher = None
        if config["method"] == "tinybert":
            teacher = self.distillation_teacher(config)
            tokenizer = teacher.tokenizer
        elif config.get("init_preset"):
            from keras_ssl import presets

            tokenizer = presets.load_tokenizer(config["init_preset"], verify=False)
        else:
            train_tokenizer = (text.train_sentencepiece
                               if options["tokenizer"] == "sentencepiece" else text.train_wordpiece)
            tokenizer = train_tokenizer(
                train, vocabulary_size=options["vocabulary_size"], lowercase=True,
                max_texts=options["vocabulary_texts"],
            )
        return {"train": train, "held_out": held_out, "num_train": len(train),
                "tokenizer": tokenizer, "teacher": teacher}

    def build_method(self, config, tokenizer, load_weights=False, teacher=None):
        """The text method of a run config, on a fresh backbone for
        `tokenizer`, or on the backbone of the run's `init_preset` (its
        weights with `load_weights=True`). For `tinybert`, the distillation
        of `teacher` into the fresh student; without a teacher, the bare
        student (a baseline)."""
        from keras_ssl import backbones

        builder = {"bert_tiny": backbones.BertTiny, "bert_small": backbones.BertSmall,
                   "albert_tiny": backbones.AlbertTiny, "albert_small": backbones.AlbertSmall,
                   "gpt_tiny": backbones.GPTTiny, "gpt_small": backbones.GPTSmall}
        length = config["options"]["sequence_length"]
        if config.get("init_preset"):
            backbone = self.preset_encoder(config, load_weights=load_weights)
        else:
            backbone = builder[config["backbone"]](tokenizer.vocabulary_size(),
                                                   max_sequence_length=length,
                                                   **config.get("backbone_kwargs", {}))
        cls, fixed = method_class(config["method"])
        kwargs = {**fixed, **config.get("method_kwargs", {})}
        if config["method"] == "tinybert":
            from keras_ssl import methods

            kwargs.pop("teacher")
            if teacher is None:
                return cls(backbone, tokenizer, sequence_length=length)
            return methods.Distillation(teacher=teacher, student=backbone, mode="tinybert",
                                        sequence_length=length, **kwargs)
        return cls(backbone, tokenizer, sequence_length=length, **kwargs)

    def build_model(self, config, data):
        return self.build_method(config, data["tokenizer"], load_weights=True,
                                 teacher=data.get("teacher"))

    def train_dataset(self, config, data):
        return (tf.data.Dataset.from_tensor_slices(data["train"])
                .shuffle(len(data["train"]), seed=config["seed"])
                .batch(int(config["batch_size"]), drop_remainder=True)
                .prefetch(tf.data.AUTOTUNE))

    def finish(self, model, data, config, run_dir, history):
        from keras_ssl import text

        text.save_vocabulary(model.tokenizer,
                             os.path.join(run_dir, text.vocabulary_filename(model.tokenizer)))
        metric = METHOD_NAMES[config["method"]][2]
        held = model.evaluate(
            tf.data.Dataset.from_tensor_slices(data["held_out"]).batch(config["batch_size"]),
            verbose=0, return_dict=True)
        summary = {
            f"train_{metric}": float(history.get(metric, [float("nan")])[-1]),
            f"held_out_{metric}": float(held[metric]),
            "held_out_loss": float(held["loss"]),
            "num_texts": len(data["train"]),
            "num_held_out": len(data["held_out"]),
            "vocabulary_size": int(model.tokenizer.vocabulary_size()),
        }
        if "perplexity" in held:
            summary["held_out_perplexity"] = float(held["perplexity"])
        if "sentence_accuracy" in held:
            summary["held_out_sentence_accuracy"] = float(held["sentence_accuracy"])
        if config["method"] == "clm":
            # Exact token-weighted perplexity, and samples for the card:
            # the first words of held-out texts, continued by top-k sampling.
            summary["held_out_perplexity"] = model.perplexity(data["held_out"])
            summary["samples"] = [
                {"prompt": p, "generated": g}
                for p, g in held_out_samples(model, data["held_out"], seed=int(config["seed"]),
                                             count=5, words=4, max_length=48)]
        return summary

    def demo_lines(self, run):
        if run["config"]["method"] != "clm":
            return []
        samples = held_out_samples(run["model"], run["data"]["held_out"],
                                   seed=int(run["config"]["seed"]), count=3, words=3,
                                   max_length=32)
        return ["Generated from held-out prompts (top-k sampling):"] + [
            f"  {p!r} -> {g!r}" for p, g in samples]

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
        from keras_ssl import presets
        from keras_ssl.backbones import Backbone

        backbone = Backbone.from_preset(path, verify=False)
        tokenizer = presets.load_tokenizer(path, verify=False)
        cls, fixed = method_class(manifest.get("method") or "mlm")  # tinybert: a BERT
        return cls(backbone, tokenizer, sequence_length=manifest["sequence_length"], **fixed)

    def load_eval_data(self, dataset, data_dir=None, seed=0):
        check_choice("dataset", dataset or "sms_spam", TASKS)
        return load_task(dataset or "sms_spam", seed=seed)

    def eval_dataset(self, dataset):
        return dataset if dataset in TASKS else "sms_spam"

    def eval_data(self, run):
        options = run["config"].get("options", {})
        task = options.get("task") or self.eval_dataset(run["config"].get("dataset"))
        return self.load_eval_data(task, seed=int(run["config"]["seed"]))

    def probe(self, probe_model, data, fractions=(0.01, 1.0), seed=0, knn=True):
        return linear_probes(lambda x: text_features(probe_model, x), data, fractions,
                             seed=seed, knn=knn)

    def new_probe_model(self, config, data):
        return self.build_method(config, data["tokenizer"])

    def evaluate(self, run, config, quick=False):
        from keras_ssl import datasets, evaluation

        eval_cfg = config.get("evaluation", {})
        fractions = [float(f) for f in eval_cfg.get("label_fractions", [0.01, 0.1, 1.0])]
        seed = int(run["config"]["seed"])
        task = run["config"]["options"]["task"]
        (x_train, y_train), (x_test, y_test) = self.eval_data(run)
        if quick:  # the machinery at a tiny size: for tests, not for results
            x_train, y_train = x_train[:600], y_train[:600]
            x_test, y_test = x_test[:100], y_test[:100]
        num_classes = len(class_names(task))
        labelled = ((x_train, y_train), (x_test, y_test))
        batch_size = int(eval_cfg.get("batch_size", 32))
        min_steps = 2 if quick else int(eval_cfg.get("min_steps", 300))
        min_epochs = 1 if quick else int(eval_cfg.get("min_epochs", 3))
        results = {"label_fractions": fractions, "pretrained": {}, "random_init": {},
                   "sequence_length": run["model"].sequence_length, "task": task,
                   "backbone": run["config"]["backbone"]}
        keras.utils.set_random_seed(seed + 1)
        random_model = self.new_probe_model(run["config"], run["data"])
        models = {"pretrained": run["model"], "random_init": random_model}
        if run["config"].get("init_preset"):  # the starting point, as it was
            models["init_preset"] = self.build_method(run["config"], run["data"]["tokenizer"],
                                                      load_weights=True)
            results["init_preset"] = {"preset": run["config"]["init_preset"]}
        teacher = run["data"].get("teacher")
        if teacher is not None:  # the teacher beside its student: accuracy, size, speed
            models["teacher"] = teacher
            results["teacher"] = {"source": os.fspath(run["config"]["method_kwargs"]["teacher"]),
                                  **evaluation.inference_cost(teacher, x_test[:2048])}
            results["pretrained"].update(evaluation.inference_cost(run["model"], x_test[:2048]))
        attack = eval_cfg.get("adversarial")
        if attack:  # the pretrained encoder also fine-tuned adversarially
            from keras_ssl import adversarial

            attack = adversarial.get(attack)
            results["adversarial_fine_tune"] = {
                "attack": {"name": type(attack).__name__.lower(), **attack.get_config()}}
        for name, model in models.items():
            results[name].update(self.probe(model, labelled, fractions, seed=seed))
        # A quick run fine-tunes at the smallest fraction only: each
        # classifier costs a graph trace, and one runs the whole path.
        for fraction in ([min(fractions)] if quick else fractions):
            label = fraction_label(fraction)
            xs, ys = (x_train, y_train) if fraction >= 1.0 else datasets.label_subset(
                x_train, y_train, fraction=fraction, seed=seed)
            epochs = max(min_epochs, math.ceil(min_steps * batch_size / len(xs)))
            if quick:
                epochs = 1
            # The teacher is probed here, beside its student; its own card
            # has its fine-tuning (a larger BERT fine-tunes for much longer).
            runs = [(name, model, None) for name, model in models.items() if name != "teacher"]
            if attack:
                runs.append(("adversarial_fine_tune", run["model"], attack))
            for name, model, adversary in runs:
                keras.utils.set_random_seed(seed + 7)
                clf = evaluation.text_classifier(
                    model, num_classes=num_classes,
                    learning_rate=float(eval_cfg.get("learning_rate", 2e-4)),
                    adversarial=adversary)
                clf.fit(xs, ys, epochs=epochs, batch_size=batch_size, verbose=0)
                predictions = np.argmax(clf.predict(x_test, batch_size=256, verbose=0), axis=-1)
                report = evaluation.classification_report(y_test, predictions)
                results[name][f"accuracy@{label}"] = report["accuracy"]
                results[name][f"macro_f1@{label}"] = report["macro_f1"]
                results[name][f"epochs@{label}"] = epochs
        results["plots"] = self.plots(run, (x_test, y_test))
        return results

    def plots(self, run, test):
        """A PCA of the test texts' embeddings (PNG) and TensorBoard Embedding
        Projector files in the run's `logs/`; returns the PNG names."""
        import matplotlib.pyplot as plt

        from keras_ssl import evaluation, visualize

        names = class_names(run["config"]["options"]["task"])
        x, y = test[0][:2000], test[1][:2000]
        features = text_features(run["model"], x)
        plt.close(visualize.plot_embeddings(
            features, y, class_names=names,
            path=os.path.join(run["run_dir"], "embeddings_pca.png")))
        evaluation.write_projector(os.path.join(run["run_dir"], "logs"), features,
                                   labels=y, class_names=names)
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
        method = results.get("method", "mlm")
        short, accuracy_name, metric = METHOD_NAMES[method]
        arch = architecture(results.get("backbone"))
        header = ["encoder"]
        for f in fractions:
            header += [f"linear probe, {fraction_label(f)} labels"]
        for f in fractions:
            header += [f"fine-tune accuracy, {fraction_label(f)} labels",
                       f"fine-tune macro F1, {fraction_label(f)} labels"]
        lines = ["| " + " | ".join(header) + " |", "|---|" + "---|" * (len(header) - 1)]
        rows = [(f"{short}-pretrained {arch}", results.get("pretrained", {})),
                (f"randomly initialised {arch} (same architecture)",
                 results.get("random_init", {})),
                *starting_point_rows(results)]
        if results.get("adversarial_fine_tune"):
            attack = results["adversarial_fine_tune"]["attack"]
            rows.insert(1, (f"{short}-pretrained {arch}, fine-tuned with "
                            f"{attack['name'].upper()} (epsilon {attack['epsilon']:g})",
                            results["adversarial_fine_tune"]))
        if results.get("teacher"):
            rows.insert(0, (f"teacher (`{results['teacher']['source']}`)", results["teacher"]))
        for row, values in rows:
            cells = [format_value(values.get(f"linear_probe@{fraction_label(f)}"))
                     for f in fractions]
            for f in fractions:
                for name in ("accuracy", "macro_f1"):
                    cells.append(format_value(values.get(f"{name}@{fraction_label(f)}")))
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
        if results.get("teacher"):
            lines += teacher_cost_lines(results, "texts")
        pre = results["pretrain"]
        lines += [
            "",
            f"{accuracy_name.capitalize()} after pretraining: {pre[f'train_{metric}']:.4f} "
            f"(training batches), {pre[f'held_out_{metric}']:.4f} (held-out texts)"
            + (f"; held-out perplexity {pre['held_out_perplexity']:.4f}"
               if "held_out_perplexity" in pre else "")
            + (f"; sentence-task accuracy {pre['held_out_sentence_accuracy']:.4f} (held-out)"
               if "held_out_sentence_accuracy" in pre else "")
            + (f"; {pre['examples_per_second'] * results.get('sequence_length', 0):.0f} "
               f"tokens/s in the {short} train step." if results.get("sequence_length")
               else "."),
        ]
        if pre.get("samples"):
            lines += ["", "Generated continuations (top-k sampling, k = 10, of the first "
                      "words of held-out texts):", ""]
            lines += [f"- *{sample['prompt']}* → {sample['generated']}"
                      for sample in pre["samples"]]
        return "\n".join(lines)

    readme_columns = ("task", "linear probe 1%", "1% labels", "10% labels", "100% labels",
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
            f"| [{name}](models/{name}/) | {results.get('task', 'sms_spam')} "
            f"| {probe('pretrained')} | {pair('pretrained', '1%')} "
            f"| {pair('pretrained', '10%')} | {pair('pretrained', '100%')} "
            f"| {probe('random_init')} | {pair('random_init', '1%')} "
            f"| {pair('random_init', '10%')} | {pair('random_init', '100%')} "
            f"| {pre['steps']} steps, {pre['pretrain_seconds'] / 60:.1f} min, "
            f"{METHOD_NAMES[results.get('method', 'mlm')][1]} "
            f"{pre['held_out_' + METHOD_NAMES[results.get('method', 'mlm')][2]]:.4f} "
            f"| `{results['command']}` |"
        )


TEXT = register(TextModality())
