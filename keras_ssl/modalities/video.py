"""Video: VideoMAE (a video ViT) and frame order prediction (an image
encoder on every frame), on clips of moving items (`datasets.moving_objects`).

Evaluation protocol of a video recipe (a held-out test set of clips whose
items come from the item set's test split):
* two probes of the frozen encoder's clip features, each at every label
  fraction (class-stratified, fixed seed): a linear probe and kNN for the
  item's class (what is in the clip) and for its direction of motion (how
  it moves, one of 8);
* the same probes on the same architecture randomly initialised;
* logistic regression on the raw pixels of the flattened clip (averaged
  over 2x2, 4x4, ... blocks when a clip has more than 2048 pixels).

A clip's features are the encoder's output for a video encoder
(`backbones.VideoViT`), and the mean of the per-frame features for an
image encoder (frame order prediction's).
"""

import os

import keras
import numpy as np

from keras_ssl.modalities.base import Modality
from keras_ssl.modalities.base import fraction_label
from keras_ssl.modalities.base import linear_probes
from keras_ssl.modalities.base import register
from keras_ssl.modalities.base import result_cell
from keras_ssl.modalities.base import table_lines
from keras_ssl.utils import check_choice

#: the video encoder of the zoo, by name
VIDEO_BACKBONES = ("videovit",)
#: settings of a "videovit" built by name (a small ViT, as the image modality's)
VIDEO_VIT_DEFAULTS = {"hidden_dim": 128, "num_layers": 4, "num_heads": 4}
#: the label tasks of a clip: the probes' keys are "linear_probe@F" for the
#: item and "direction_linear_probe@F" for the direction
TASKS = ("item", "direction")
#: raw-pixel baseline: clips averaged down to at most this many features
RAW_FEATURES = 2048


def method_class(name):
    """The pretraining method class of the video method called `name`."""
    from keras_ssl import methods

    classes = {"videomae": methods.VideoMAE, "frame_order": methods.FrameOrderPrediction}
    check_choice("method", name, sorted(classes))
    return classes[name]


def default_tubelet(frames, size):
    """The tubelet a "videovit" gets unless given: 2 frames (1 for an odd
    number of frames) by the largest square patch among 16, 8, 4, 2, 1
    pixels that cuts the frame into at least 4 x 4 patches."""
    patch = next(p for p in (16, 8, 4, 2, 1) if size % p == 0 and (size // p) ** 2 >= 16)
    return (2 if frames % 2 == 0 else 1, patch, patch)


def build_encoder(backbone, video_shape, width_multiplier=None, **kwargs):
    """A video encoder ("videovit") for clips of `video_shape` (T, H, W, C),
    or an image backbone by name for their frames (H, W, C)."""
    from keras_ssl import backbones

    video_shape = tuple(int(d) for d in video_shape)
    if backbone == "videovit":
        for key, value in VIDEO_VIT_DEFAULTS.items():
            kwargs.setdefault(key, value)
        kwargs.setdefault("tubelet", default_tubelet(video_shape[0], video_shape[1]))
        return backbones.VideoViT(input_shape=video_shape, **kwargs)
    if width_multiplier is not None and backbone.startswith("resnet"):
        kwargs["width_multiplier"] = width_multiplier
    return backbones.get(backbone, input_shape=video_shape[1:], **kwargs)


def clip_features(encoder, videos, batch_size=256):
    """(N, D) features of clips (N, T, H, W, C): a video encoder's output,
    or the mean over frames of an image encoder's features."""
    from keras_ssl import evaluation

    videos = np.asarray(videos)
    if len(encoder.input_shape) == 5:
        return evaluation.extract_features(encoder, videos, batch_size=batch_size)
    n, frames = videos.shape[:2]
    features = evaluation.extract_features(
        encoder, videos.reshape((n * frames,) + videos.shape[2:]), batch_size=batch_size)
    return features.reshape(n, frames, -1).mean(axis=1)


def flatten_clips(videos, max_features=RAW_FEATURES):
    """The raw-pixel baseline's features: each clip flattened, in [0, 1],
    averaged over f x f pixel blocks (f = 1, 2, 4, ...) until it has at most
    `max_features` values (or f no longer divides the frame)."""
    videos = np.asarray(videos, dtype="float32") / 255.0
    n, frames, height, width, channels = videos.shape
    f = 1
    while (frames * (height // f) * (width // f) * channels > max_features
           and height % (2 * f) == 0 and width % (2 * f) == 0):
        f *= 2
    if f > 1:
        videos = videos.reshape(n, frames, height // f, f, width // f, f, channels).mean(
            axis=(3, 5))
    return videos.reshape(n, -1)


def _positive(options, key, minimum=1):
    value = options[key]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{key}` must be an integer >= {minimum}, got {value!r}.")


class VideoModality(Modality):
    name = "video"
    evaluation_settings = ("label_fractions",)
    methods = {
        "videomae": {"batch_size": 32, "learning_rate": 1.5e-3, "backbone": "videovit",
                     "epochs": 30},
        "frame_order": {"batch_size": 32, "learning_rate": 1e-3, "backbone": "resnet18",
                        "epochs": 10},
    }
    # Clips of `frames` frames of `image_size` pixels a side: 8 x 32 x 32 by
    # default (CPU-sized; `moving_objects` itself defaults to Moving MNIST's
    # 16 x 64 x 64); `num_videos` training clips (at most `limit`) and
    # `num_test` held-out ones.
    options = {"frames": 8, "image_size": 32, "num_objects": 1, "num_videos": 4000,
               "num_test": 1000, "width_multiplier": 0.25}
    precisions = ("float32", "mixed_float16", "mixed_bfloat16")
    weight_decay = 1e-4
    export_dirname = "encoder"
    quick = {"epochs": 1, "limit": 64}
    demo = {"epochs": 5, "limit": 2000}
    table_title = ("Video (clips of moving Fashion-MNIST items, held-out test clips; probes of "
                   "the item's class and of its direction of motion, one of 8):")

    def default_dataset(self):
        return "moving_fashion_mnist"

    def configure(self, config):
        from keras_ssl import backbones, datasets

        config = super().configure(config)
        check_choice("dataset", config["dataset"], datasets.available_videos())
        if config["method"] == "videomae":
            check_choice("backbone", config["backbone"], VIDEO_BACKBONES)
        else:
            if config["backbone"] in VIDEO_BACKBONES:
                raise ValueError(
                    f"`backbone` {config['backbone']!r} cannot be used with method "
                    f"{config['method']!r}: it encodes each frame with an image backbone "
                    f"({', '.join(backbones.available())})."
                )
            check_choice("backbone", config["backbone"], backbones.available())
        options = config["options"]
        for key, minimum in (("frames", 2), ("image_size", 8), ("num_objects", 1),
                             ("num_videos", 1), ("num_test", 1)):
            _positive(options, key, minimum)
        if config["method"] == "frame_order":
            sampled = config["method_kwargs"].get("frames", 4)
            if isinstance(sampled, int) and sampled > options["frames"]:
                raise ValueError(
                    f"frame_order samples `frames`={sampled} frames a clip (method_kwargs), "
                    f"more than the clips' {options['frames']} (option `frames`)."
                )
        return config

    # -- pretraining -----------------------------------------------------

    def load_data(self, config, data_dir=None):
        from keras_ssl import datasets

        options = config["options"]
        count = int(options["num_videos"])
        if config.get("limit"):
            count = min(count, int(config["limit"]))
        if count < config["batch_size"]:
            raise ValueError(
                f"`batch_size` {config['batch_size']} is larger than the data ({count} "
                "training clips)."
            )
        train, test = datasets.load_videos(
            config["dataset"], num_train=count, num_test=int(options["num_test"]),
            frames=int(options["frames"]), size=int(options["image_size"]),
            num_objects=int(options["num_objects"]), seed=int(config["seed"]),
            data_dir=data_dir)
        return {"train": train[0], "num_train": count, "labelled": (train, test),
                "video_shape": tuple(train[0].shape[1:]),
                "info": datasets.video_info(config["dataset"])}

    def _encoder(self, config, video_shape):
        return build_encoder(config["backbone"], video_shape,
                             config["options"]["width_multiplier"],
                             **config.get("backbone_kwargs", {}))

    def build_model(self, config, data):
        encoder = self._encoder(config, data["video_shape"])
        return method_class(config["method"])(encoder, seed=config["seed"],
                                              **config.get("method_kwargs", {}))

    def train_dataset(self, config, data):
        from keras_ssl import datasets

        return datasets.make_dataset(data["train"], batch_size=config["batch_size"],
                                     shuffle=True, drop_remainder=True, seed=config["seed"])

    def encoder(self, model):
        return model.encoder

    def export(self, model, path, overwrite=False, teacher=False):
        from keras_ssl.export import export_backbone

        if teacher:
            raise ValueError("`teacher`=True: the video methods have no momentum teacher.")
        return export_backbone(model, path, overwrite=overwrite)

    # -- evaluation ------------------------------------------------------

    def load_eval_data(self, dataset, data_dir=None, seed=0, frames=None, image_size=None):
        """The labelled clips of `dataset`, `num_videos` training and
        `num_test` test clips at this modality's default sizes (`options`)
        unless `frames` or `image_size` is given: ((x_train, labels),
        (x_test, labels)), labels a dict with "item" and "direction"."""
        from keras_ssl import datasets

        options = self.options
        return datasets.load_videos(
            dataset or self.default_dataset(), num_train=options["num_videos"],
            num_test=options["num_test"], frames=int(frames or options["frames"]),
            size=int(image_size or options["image_size"]), num_objects=options["num_objects"],
            seed=seed, data_dir=data_dir)

    def eval_data_for(self, probe_model, dataset, data_dir=None, seed=0):
        """Clips at the encoder's size: a video encoder's frames and frame
        side, or an image encoder's frame side (and the default frames)."""
        shape = tuple(getattr(probe_model, "input_shape", ())[1:])
        frames = image_size = None
        if len(shape) == 4 and shape[1] == shape[2]:
            frames, image_size = shape[0], shape[1]
        elif len(shape) == 3 and shape[0] == shape[1]:
            image_size = shape[0]
        return self.load_eval_data(dataset, data_dir=data_dir, seed=seed, frames=frames,
                                   image_size=image_size)

    def eval_data(self, run):
        return run["data"]["labelled"]

    def check_compatible(self, probe_model, data, what):
        clip = tuple(data[0][0].shape[1:])
        expected = tuple(probe_model.input_shape[1:])
        if len(clip) != 4 or (expected != clip and expected != clip[1:]):
            raise ValueError(
                f"{what} takes {'clips' if len(expected) == 4 else 'frames'} of shape "
                f"{expected}, but the data's clips have shape {clip} (frames, height, width, "
                "channels)."
            )

    def probe(self, probe_model, data, fractions=(0.1, 1.0), seed=0, knn=True):
        """Linear probe (and kNN) accuracy for the item class ("linear_probe@F",
        "knn@F") and the direction of motion ("direction_linear_probe@F",
        "direction_knn@F") at each label fraction F."""
        (x_train, y_train), (x_test, y_test) = data
        features = (clip_features(probe_model, x_train), clip_features(probe_model, x_test))
        return self.probe_features(features, y_train, y_test, fractions, seed, knn)

    @staticmethod
    def probe_features(features, y_train, y_test, fractions=(0.1, 1.0), seed=0, knn=True):
        """`probe`'s scores from precomputed `(train, test)` features (N, D),
        label dicts with "item" and "direction"."""
        results = {}
        for task in TASKS:
            scores = linear_probes(lambda f: f, ((features[0], np.asarray(y_train[task])),
                                                 (features[1], np.asarray(y_test[task]))),
                                   fractions, seed=seed, knn=knn)
            prefix = "" if task == "item" else f"{task}_"
            results.update({prefix + key: value for key, value in scores.items()})
        return results

    def new_probe_model(self, config, data):
        return self._encoder(config, data["video_shape"])

    def evaluate(self, run, config, quick=False):
        data = run["data"]
        (x_train, y_train), (x_test, y_test) = data["labelled"]
        if quick:  # the machinery at a tiny size: for tests, not for results
            x_test, y_test = x_test[:100], {key: value[:100] for key, value in y_test.items()}
        labelled = ((x_train, y_train), (x_test, y_test))
        fractions = [float(f) for f in config.get("evaluation", {}).get("label_fractions",
                                                                      [0.1, 1.0])]
        seed = int(run["config"]["seed"])
        results = {"label_fractions": fractions, "tasks": list(TASKS)}
        results["pretrained"] = self.probe(self.encoder(run["model"]), labelled, fractions,
                                           seed=seed)
        keras.utils.set_random_seed(seed + 1)
        results["random_init"] = self.probe(self.new_probe_model(run["config"], data), labelled,
                                            fractions, seed=seed)
        raw = (flatten_clips(x_train), flatten_clips(x_test))
        results["raw_pixels"] = self.probe_features(raw, y_train, y_test, fractions, seed,
                                                     knn=False)
        info = data["info"]
        results["num_classes"] = {"item": len(info["item_class_names"]),
                                  "direction": len(info["direction_names"])}
        results["plots"] = self.plots(run, (x_test, y_test))
        return results

    def plots(self, run, test):
        """PCA of test-clip embeddings coloured by item class and by
        direction, VideoMAE's reconstructions of one clip (PNGs), and
        TensorBoard Embedding Projector files (each clip shown by its
        middle frame) in the run's `logs/`; returns the PNG names."""
        import matplotlib.pyplot as plt

        from keras_ssl import evaluation, visualize

        model, run_dir = run["model"], run["run_dir"]
        info = run["data"]["info"]
        x, y = test
        x = x[:2000]
        features = clip_features(self.encoder(model), x)
        names = []
        for task, class_names, name in (
                ("item", info["item_class_names"], "embeddings_pca.png"),
                ("direction", info["direction_names"], "embeddings_pca_direction.png")):
            plt.close(visualize.plot_embeddings(
                features, y[task][:2000], class_names=class_names,
                title=f"Test clips by {task} (PCA)", path=os.path.join(run_dir, name)))
            names.append(name)
        if hasattr(model, "reconstruct"):
            clips, masked, reconstructed = model.reconstruct(x[:1])
            plt.close(visualize.plot_reconstructions(
                clips[0], masked[0], reconstructed[0],
                path=os.path.join(run_dir, "reconstructions.png")))
            names.append("reconstructions.png")
        evaluation.write_projector(os.path.join(run_dir, "logs"), features,
                                   labels=y["item"][:2000], images=x[:, x.shape[1] // 2],
                                   class_names=info["item_class_names"])
        return names

    # -- tables ----------------------------------------------------------

    @staticmethod
    def _columns(fractions):
        columns = []
        for prefix, task in (("", "item"), ("direction_", "direction")):
            columns += [(f"{prefix}linear_probe@{fraction_label(f)}",
                         f"{task}: linear probe, {fraction_label(f)} labels") for f in fractions]
            columns += [(f"{prefix}knn@{fraction_label(f)}",
                         f"{task}: kNN, {fraction_label(f)} labels") for f in fractions]
        return columns

    def headline(self, results):
        fractions = results.get("label_fractions", [])
        if not fractions:
            return ""
        label = fraction_label(min(fractions))
        pre = results.get("pretrained", {})
        parts = [f"{task} probe@{label} {pre[key]:.3f}"
                 for task, key in (("item", f"linear_probe@{label}"),
                                   ("direction", f"direction_linear_probe@{label}"))
                 if key in pre]
        return ", ".join(parts)

    def results_table(self, results):
        rows = [
            (f"{results.get('method', 'self-supervised')}-pretrained encoder",
             results.get("pretrained", {})),
            ("random-init encoder (same architecture)", results.get("random_init", {})),
            ("logistic regression on the raw pixels of the clip", results.get("raw_pixels", {})),
        ]
        return "\n".join(table_lines(self._columns(results["label_fractions"]), rows))

    readme_columns = ("data", "item probe (few labels)", "item probe 100%",
                      "direction probe (few labels)", "direction probe 100%",
                      "random-init item / direction", "raw-pixel item / direction",
                      "pretraining")

    def readme_row(self, name, results):
        def cell(section, key):
            return result_cell(results, section, key)

        few = fraction_label(min(results["label_fractions"]))
        pre = results["pretrain"]
        return (
            f"| [{name}](models/{name}/) | {results.get('dataset')} "
            f"| {cell('pretrained', f'linear_probe@{few}')} ({few}) "
            f"| {cell('pretrained', 'linear_probe@100%')} "
            f"| {cell('pretrained', f'direction_linear_probe@{few}')} ({few}) "
            f"| {cell('pretrained', 'direction_linear_probe@100%')} "
            f"| {cell('random_init', f'linear_probe@{few}')} / "
            f"{cell('random_init', f'direction_linear_probe@{few}')} "
            f"| {cell('raw_pixels', f'linear_probe@{few}')} / "
            f"{cell('raw_pixels', f'direction_linear_probe@{few}')} "
            f"| {pre['epochs_completed']} epochs, {pre['pretrain_seconds'] / 60:.1f} min "
            f"| `{results['command']}` |"
        )


VIDEO = register(VideoModality())
