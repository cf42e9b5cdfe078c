"""Image and text together: CLIP on image-caption pairs.

Method: `clip` (`keras_ssl.methods.CLIP`): an image backbone by name
(`resnet18` by default, width 0.25) and a BERT text tower (BERT-Tiny's
sizes by default: options `text_hidden_dim`, `text_layers`) on a
WordPiece vocabulary trained on the run's captions. Data (`dataset`):
`"emoji"` (`datasets.load_image_text`: emoji rendered from the Noto Color
Emoji font, captioned from the Unicode CLDR names and keywords in the
run's `language`, "en" or "zh", ...) or a caption CSV of your own. A run
pretrains on the training split only: for emoji, the pairs of the
subgroups that are not held out.

Evaluation protocol of a recipe (emoji), on the held-out subgroups, kinds
of emoji the run never saw:
* zero-shot classification of the test images among the held-out
  subgroups, and among the 8 groups, by prompts in the run's language (the
  class names written into `PROMPT_TEMPLATES`, averaged), against chance
  (the majority class's share);
* text-to-image and image-to-text recall@1/5/10 over the test pairs,
  against chance (k / number of pairs);
* both for the same towers randomly initialised;
* the image tower as a backbone: linear probe of the 8 groups on two halves
  of all the emoji, stratified by group (`group_probe_split`), at each label
  fraction of the training half, against the random encoder, logistic
  regression on raw pixels and always answering the most frequent group.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from keras_ssl.modalities.base import Modality
from keras_ssl.modalities.base import fraction_label
from keras_ssl.modalities.base import linear_probes
from keras_ssl.modalities.image import ImageModality
from keras_ssl.modalities.base import register
from keras_ssl.modalities.base import table_lines
from keras_ssl.utils import check_choice

#: prompt templates of zero-shot classification, by language (the paper
#: averages a class's prompts; "{}" is the class name)
PROMPT_TEMPLATES = {"en": ("{}", "an emoji of {}", "a picture of {}"),
                    "zh": ("{}", "{}的表情符号", "{}的图片")}
#: image backbones a run can use (built as the image modality builds them)
IMAGE_BACKBONES = ("resnet18", "resnet34", "convnet", "vit", "vit_tiny")
RECALL_KS = (1, 5, 10)


def templates_for(language):
    """The zero-shot prompt templates of `language` ("{}" alone for others)."""
    return PROMPT_TEMPLATES.get(language, ("{}",))


def load_pairs(dataset, options, data_dir=None):
    """`(train, test)` image-text pairs of a run's dataset and options."""
    from keras_ssl import datasets

    pairs = datasets.load_image_text(dataset, language=options["language"],
                                     image_size=options["image_size"])
    return pairs.split()


def group_probe_split(pairs, seed=0):
    """The image tower's probe data: every emoji labelled by its group, split
    in two halves stratified by group (seed `seed`):
    `((x_train, y_train), (x_test, y_test))`. Both halves hold emoji of the
    training subgroups (seen without labels in pretraining) and of the
    held-out ones, in the same group mix."""
    from keras_ssl import datasets

    if pairs.groups is None:
        raise ValueError(
            f"{pairs.source!r} has no labels (a caption CSV): the image tower is probed on the "
            "emoji groups, or on images of your own with --labeled."
        )
    index = np.arange(len(pairs))
    chosen, _ = datasets.label_subset(index, pairs.groups, fraction=0.5, seed=seed)
    is_train = np.isin(index, chosen)
    return ((pairs.images[is_train], pairs.groups[is_train]),
            (pairs.images[~is_train], pairs.groups[~is_train]))


def zero_shot_accuracy(model, image_embeddings, classes, labels, templates):
    """Top-1 zero-shot accuracy of `model` from the normalised embeddings of
    images labelled `labels`, among the class ids that occur in `labels`,
    prompted with `classes` (names by id): `zero_shot_classify`'s choice,
    from embeddings computed once."""
    present = np.unique(labels)
    prompts = model.class_embeddings([classes[i] for i in present], templates=templates)
    return float(np.mean(present[(image_embeddings @ prompts.T).argmax(axis=1)] == labels))


def retrieval(image_embeddings, text_embeddings):
    """Text-to-image and image-to-text recall@k of paired embeddings (each
    caption's own image is the one relevant item)."""
    from keras_ssl import evaluation

    index = np.arange(len(image_embeddings))
    results = {}
    for name, (queries, gallery) in {
            "text_to_image": (text_embeddings, image_embeddings),
            "image_to_text": (image_embeddings, text_embeddings)}.items():
        for key, value in evaluation.recall_at_k(queries, gallery, index, RECALL_KS).items():
            results[f"{name}_{key}"] = value
    return results


class ImageTextModality(Modality):
    name = "image_text"
    methods = {"clip": {"batch_size": 128, "learning_rate": 1e-3, "backbone": "resnet18",
                        "epochs": 100}}
    options = {"language": "en", "image_size": 64, "width_multiplier": 0.25,
               "vocabulary_size": 4000, "sequence_length": 32, "embedding_dim": 128,
               "text_hidden_dim": 128, "text_layers": 2, "min_frequency": 2,
               "word_deletion": 0.0}
    precisions = ("float32",)
    # CLIP's decay (the logit scale is left out of it, see CLIP.compile).
    weight_decay = 0.1
    export_dirname = "clip"
    evaluation_settings = ("label_fractions", "templates")
    quick = {"epochs": 1, "limit": 256}
    demo = {"epochs": 2}
    table_title = ("Image and text (CLIP; zero-shot accuracy and recall on held-out emoji "
                   "subgroups; chance in brackets):")

    def default_dataset(self):
        return "emoji"

    def configure(self, config):
        from keras_ssl import datasets

        config = super().configure(config)
        check_choice("backbone", config["backbone"], IMAGE_BACKBONES)
        if config.get("jit_compile") is True:
            raise ValueError(
                "`jit_compile` True cannot be used with method 'clip': it tokenizes captions "
                "inside its train step, which XLA cannot compile."
            )
        options = config["options"]
        datasets.check_image_text_source(config["dataset"], options["language"])
        if isinstance(options["image_size"], (list, tuple)):
            options["image_size"] = int(options["image_size"][0])
        return config

    # -- pretraining -----------------------------------------------------

    def load_data(self, config, data_dir=None):
        from keras_ssl import text

        options = config["options"]
        train, test = load_pairs(config["dataset"], options, data_dir)
        if config.get("limit") and int(config["limit"]) < len(train):
            keep = np.random.default_rng(config["seed"]).choice(
                len(train), int(config["limit"]), replace=False)
            train = train.subset(np.sort(keep))
        if len(train) < config["batch_size"]:
            raise ValueError(
                f"The training split has {len(train)} image-caption pairs, fewer than "
                f"`batch_size` ({config['batch_size']})."
            )
        # A few thousand captions: words seen twice are kept whole (the
        # learner's default, 10, splits most caption words into pieces).
        tokenizer = text.train_wordpiece(list(train.captions),
                                         vocabulary_size=options["vocabulary_size"],
                                         min_frequency=options["min_frequency"])
        return {"train": train, "test": test, "num_train": len(train), "tokenizer": tokenizer}

    def build_clip(self, config, tokenizer):
        """The CLIP model of a run config, randomly initialised."""
        from keras_ssl import backbones, methods
        from keras_ssl.modalities.image import build_encoder

        options = config["options"]
        size = int(options["image_size"])
        image_encoder = build_encoder(config["backbone"], (size, size, 3),
                                      options["width_multiplier"],
                                      **config.get("backbone_kwargs", {}))
        length = int(options["sequence_length"])
        hidden = int(options["text_hidden_dim"])
        text_backbone = backbones.BertTiny(
            tokenizer.vocabulary_size(), max_sequence_length=length, hidden_dim=hidden,
            intermediate_dim=4 * hidden, num_heads=max(1, hidden // 64),
            num_layers=int(options["text_layers"]))
        kwargs = dict(config.get("method_kwargs", {}))
        if options["word_deletion"]:
            from keras_ssl.layers import RandomWordDeletion

            kwargs["text_augmenter"] = RandomWordDeletion(float(options["word_deletion"]),
                                                          seed=config["seed"])
        return methods.CLIP(image_encoder, text_backbone, tokenizer, sequence_length=length,
                            embedding_dim=int(options["embedding_dim"]), seed=config["seed"],
                            **kwargs)

    def build_model(self, config, data):
        return self.build_clip(config, data["tokenizer"])

    def train_dataset(self, config, data):
        train = data["train"]
        return (train.dataset.shuffle(len(train), seed=config["seed"])
                .batch(int(config["batch_size"]), drop_remainder=True)
                .prefetch(tf.data.AUTOTUNE))

    def finish(self, model, data, config, run_dir, history):
        from keras_ssl import text

        text.save_vocabulary(model.tokenizer,
                             os.path.join(run_dir, text.vocabulary_filename(model.tokenizer)))
        return {"train_contrastive_accuracy": float(history["contrastive_accuracy"][-1]),
                "logit_scale": float(model.current_logit_scale()),
                "num_pairs": len(data["train"]), "num_test_pairs": len(data["test"]),
                "vocabulary_size": int(model.tokenizer.vocabulary_size())}

    def encoder(self, model):
        return model.image_encoder

    def export(self, model, path, overwrite=False, teacher=False):
        from keras_ssl.export import export_clip

        if teacher:
            raise ValueError("`teacher`=True: CLIP has no momentum teacher.")
        return export_clip(model, path, overwrite=overwrite)

    # -- evaluation ------------------------------------------------------

    def load_eval_data(self, dataset, data_dir=None, seed=0, image_size=64):
        """The image tower's probe data (`group_probe_split`)."""
        from keras_ssl import datasets

        return group_probe_split(
            datasets.load_image_text(dataset or "emoji", image_size=image_size), seed=seed)

    def eval_data_for(self, probe_model, dataset, data_dir=None, seed=0):
        # Emoji are rendered at the image tower's size.
        return self.load_eval_data(dataset, data_dir=data_dir, seed=seed,
                                   image_size=int(probe_model.input_shape[1]))

    def eval_dataset(self, dataset):
        return "emoji"

    def eval_data(self, run):
        options = run["config"]["options"]
        return self.load_eval_data(run["config"]["dataset"], seed=int(run["config"]["seed"]),
                                   image_size=int(options["image_size"]))

    # The image tower is probed as the image modality probes an encoder.
    check_compatible = ImageModality.check_compatible
    probe = ImageModality.probe

    def new_probe_model(self, config, data):
        return self.build_clip(config, data["tokenizer"]).image_encoder

    def evaluate(self, run, config, quick=False):
        eval_cfg = config.get("evaluation", {})
        fractions = [float(f) for f in eval_cfg.get("label_fractions", [0.01, 0.1, 1.0])]
        seed = int(run["config"]["seed"])
        options = run["config"]["options"]
        test = run["data"]["test"]
        if quick:  # the machinery at a tiny size: for tests, not for results
            test = test.subset(np.arange(min(64, len(test))))
        templates = tuple(eval_cfg.get("templates", templates_for(options["language"])))
        keras.utils.set_random_seed(seed + 1)
        models = {"pretrained": run["model"],
                  "random_init": self.build_clip(run["config"], run["data"]["tokenizer"])}
        subgroup_names, group_names = test.subgroup_prompts(), test.group_prompts()
        results = {"label_fractions": fractions, "language": options["language"],
                   "templates": list(templates), "num_test_pairs": len(test),
                   "num_heldout_subgroups": int(len(np.unique(test.subgroups)))}
        for name, model in models.items():
            images = model.encode_images(test.images)
            results[name] = {
                "zero_shot_subgroup": zero_shot_accuracy(model, images, subgroup_names,
                                                         test.subgroups, templates),
                "zero_shot_group": zero_shot_accuracy(model, images, group_names, test.groups,
                                                      templates),
                **retrieval(images, model.encode_texts(test.captions))}
        # Chance: a uniform guess among the classes present (k / N for
        # recall@k); "majority": always the largest class.
        results["chance"] = {
            "zero_shot_subgroup": 1.0 / len(np.unique(test.subgroups)),
            "zero_shot_group": 1.0 / len(np.unique(test.groups)),
            **{f"{d}_recall@{k}": min(k, len(test)) / len(test)
               for d in ("text_to_image", "image_to_text") for k in RECALL_KS}}
        results["majority"] = {
            "zero_shot_subgroup": float(np.bincount(test.subgroups).max() / len(test)),
            "zero_shot_group": float(np.bincount(test.groups).max() / len(test))}
        # The image tower as a backbone: group probes on two halves of all
        # the emoji (`group_probe_split`).
        labelled = self.eval_data(run)  # 1,644 small images: no need to cut it when quick
        (_, _), (_, y_probe_test) = labelled
        results["pretrained"].update(self.probe(run["model"].image_encoder, labelled, fractions,
                                                seed=seed))
        results["random_init"].update(self.probe(models["random_init"].image_encoder, labelled,
                                                 fractions, seed=seed))
        results["raw_pixels"] = linear_probes(_flatten, labelled, fractions, seed=seed,
                                              knn=False)
        results["majority"]["group_probe"] = float(
            np.bincount(y_probe_test).max() / len(y_probe_test))
        results["plots"] = self.plots(run, test)
        return results

    def plots(self, run, test):
        """A retrieval grid (held-out captions beside the test images the
        model ranks first, the right one framed), a PCA of the test images'
        embeddings by group (PNGs), and TensorBoard Embedding Projector
        files in the run's `logs/`; returns the PNG names."""
        import matplotlib.pyplot as plt

        from keras_ssl import evaluation, visualize

        model = run["model"]
        embeddings = model.encode_images(test.images)
        plt.close(visualize.plot_embeddings(
            embeddings, test.groups, class_names=test.group_names,
            path=os.path.join(run["run_dir"], "embeddings_pca.png")))
        evaluation.write_projector(os.path.join(run["run_dir"], "logs"), embeddings,
                                   labels=test.groups, class_names=test.group_names,
                                   images=test.images)
        chosen = np.random.default_rng(int(run["config"]["seed"])).choice(
            len(test), min(6, len(test)), replace=False)
        fig = visualize.plot_retrieval(
            (model.encode_texts(test.captions[chosen]), embeddings),
            test.captions[chosen], test.images, k=5, relevant=chosen,
            path=os.path.join(run["run_dir"], "retrieval.png"))
        plt.close(fig)
        return ["retrieval.png", "embeddings_pca.png"]

    # -- tables ----------------------------------------------------------

    def headline(self, results):
        pre = results.get("pretrained", {})
        if "zero_shot_subgroup" not in pre:
            return ""
        return (f"zero-shot {pre['zero_shot_subgroup']:.3f}, "
                f"text->image R@5 {pre['text_to_image_recall@5']:.3f}")

    def results_table(self, results):
        columns = [("zero_shot_subgroup", "zero-shot, held-out subgroups"),
                   ("zero_shot_group", "zero-shot, groups")]
        columns += [(f"{d}_recall@{k}", f"{d.replace('_to_', '→')} R@{k}")
                    for d in ("text_to_image", "image_to_text") for k in RECALL_KS]
        lines = table_lines(columns, [("CLIP-pretrained towers", results["pretrained"]),
                                      ("randomly initialised towers", results["random_init"]),
                                      ("chance (a uniform guess)", results["chance"]),
                                      ("always the largest class", results["majority"])],
                            first="model")
        fractions = results["label_fractions"]
        probe = [(f"linear_probe@{fraction_label(f)}",
                  f"linear probe, {fraction_label(f)} labels") for f in fractions]
        lines += ["", "The image tower as a backbone (linear probe of the 8 emoji groups: "
                  "half of all the emoji, stratified by group, to train it, the other half "
                  "to test it):", ""]
        lines += table_lines(probe, [("CLIP-pretrained image tower", results["pretrained"]),
                                     ("randomly initialised image tower",
                                      results["random_init"]),
                                     ("logistic regression on raw pixels",
                                      results["raw_pixels"]),
                                     # No features: always the test set's most frequent group.
                                     ("always the most frequent group",
                                      {key: results["majority"]["group_probe"]
                                       for key, _ in probe})])
        pre = results["pretrain"]
        lines += ["", f"Pretraining: {pre['steps']} steps in {pre['pretrain_seconds'] / 60:.1f} "
                  f"min ({pre['examples_per_second']:.0f} pairs/s), {pre['num_pairs']} pairs; "
                  f"final contrastive accuracy {pre['train_contrastive_accuracy']:.4f}, logit "
                  f"scale {pre['logit_scale']:.1f}. {results['num_test_pairs']} test pairs in "
                  f"{results['num_heldout_subgroups']} held-out subgroups; prompts "
                  + ", ".join(f"`{t}`" for t in results["templates"]) + "."]
        return "\n".join(lines)

    readme_columns = ("language", "zero-shot subgroups", "text→image R@5",
                      "random-init zero-shot", "random-init R@5", "image probe 1%",
                      "random-init probe 1%", "raw pixels 1%", "pretraining")

    def readme_row(self, name, results):
        pre, rnd, chance = results["pretrained"], results["random_init"], results["chance"]

        def cell(values, key):
            return f"{values[key]:.4f}" if key in values else "–"

        return (
            f"| [{name}](models/{name}/) | {results['language']} "
            f"| {cell(pre, 'zero_shot_subgroup')} ({chance['zero_shot_subgroup']:.3f}) "
            f"| {cell(pre, 'text_to_image_recall@5')} ({chance['text_to_image_recall@5']:.3f}) "
            f"| {cell(rnd, 'zero_shot_subgroup')} | {cell(rnd, 'text_to_image_recall@5')} "
            f"| {cell(pre, 'linear_probe@1%')} | {cell(rnd, 'linear_probe@1%')} "
            f"| {cell(results['raw_pixels'], 'linear_probe@1%')} "
            f"| {results['pretrain']['steps']} steps, "
            f"{results['pretrain']['pretrain_seconds'] / 60:.1f} min "
            f"| `{results['command']}` |"
        )


def _flatten(images):
    return images.reshape(len(images), -1).astype("float32") / 255.0


IMAGE_TEXT = register(ImageTextModality())
