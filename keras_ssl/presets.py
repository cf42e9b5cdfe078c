"""Pretrained encoders as keras-hub presets: list, load, save, fetch, verify.

A preset is a folder in keras-hub's layout, so keras-hub's own tools read and
publish it:

```
PRESET/
  config.json          the backbone's serialized config (keras-hub format)
  model.weights.h5     its weights
  metadata.json        keras and keras-hub versions, parameter count
  tokenizer.json       text presets: the tokenizer's config ...
  assets/tokenizer/    ... and its vocabulary
  keras_ssl.json       what keras_ssl adds: modality, method, data, input
                       shape, the model card's numbers and a SHA-256 for
                       every other file
  README.md            a short model card (used by hubs on upload)
```

Every recipe of the model zoo ships its trained encoder as a preset in
`models/NAME/preset/`, written by `keras-ssl zoo run NAME`; the SHA-256 sums
of its files are recorded in `models/NAME/results.json` and the weights' sum
in the card. Load one by name:

```python
keras_ssl.presets.available()                          # the zoo's presets
encoder = keras_ssl.backbones.Backbone.from_preset("simclr_resnet18_fashion_mnist")
encoder = keras_hub.models.Backbone.from_preset("models/simclr_resnet18_fashion_mnist/preset")
keras_ssl.presets.save(model.encoder, "out/my_preset", card=results)
keras_hub.upload_preset("hf://user/my_preset", "out/my_preset")
```

The presets are small (a few MB each) and live in the repository. A larger
encoder would be published to a model hub with `keras_hub.upload_preset` and
loaded from its handle (`from_preset("hf://user/name")`), the zoo recording
the handle and the SHA-256 sums instead of the files.
"""

import os
import shutil

import keras

from keras_ssl.files import folder_size
from keras_ssl.files import read_json
from keras_ssl.files import replace_atomically
from keras_ssl.files import sha256
from keras_ssl.files import staging_dir
from keras_ssl.files import write_json
from keras_ssl.version import __version__

PRESET_DIRNAME = "preset"
MANIFEST_FILE = "keras_ssl.json"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
HUB_SCHEMES = ("hf://", "kaggle://", "modelscope://", "gs://")


def _zoo_dir(zoo_dir=None):
    from keras_ssl import zoo

    return zoo_dir or zoo.default_zoo_dir()


def zoo_preset_dir(name, zoo_dir=None):
    """Where the zoo keeps recipe `name`'s preset: `models/NAME/preset`."""
    return os.path.join(_zoo_dir(zoo_dir), name, PRESET_DIRNAME)


def names(zoo_dir=None):
    """Names of the zoo recipes that ship a preset, sorted."""
    from keras_ssl import zoo

    return [
        name for name in zoo.list_recipes(zoo_dir)
        if os.path.exists(os.path.join(zoo_preset_dir(name, zoo_dir), MANIFEST_FILE))
    ]


def read_manifest(path):
    """The `keras_ssl.json` of a preset folder (raises a clear error if absent)."""
    manifest = os.path.join(os.fspath(path), MANIFEST_FILE)
    if not os.path.exists(manifest):
        raise ValueError(
            f"`preset` {os.fspath(path)!r} has no {MANIFEST_FILE}: it is not a preset "
            "written by keras_ssl.presets.save (a plain keras-hub preset loads with "
            "keras_hub.models.Backbone.from_preset)."
        )
    try:
        return read_json(manifest)
    except ValueError as e:
        raise ValueError(f"The preset manifest {manifest!r} is corrupt: {e}") from e


def available(zoo_dir=None):
    """The zoo's presets: one dict each, sorted by name.

    Keys: `name`, `modality`, `method`, `dataset`, `class_name`,
    `input_shape` (images) or `sequence_length` (text), `parameters`,
    `size_mb` (the folder on disk), `sha256` (of the weights), `card`
    (the recipe's headline numbers, e.g. `linear_probe@1%`) and `path`.

    Example:

    >>> names = [p["name"] for p in available()]
    >>> all(isinstance(n, str) for n in names)
    True
    """
    result = []
    for name in names(zoo_dir):
        path = zoo_preset_dir(name, zoo_dir)
        manifest = read_manifest(path)
        info = {
            "name": name,
            "modality": manifest.get("modality"),
            "method": manifest.get("method"),
            "dataset": manifest.get("dataset"),
            "class_name": manifest.get("class_name"),
            "parameters": manifest.get("parameters"),
            "size_mb": round(folder_size(path) / 2**20, 2),
            "sha256": manifest.get("files", {}).get(WEIGHTS_FILE),
            "card": manifest.get("card", {}),
            "path": path,
        }
        for key in ("input_shape", "sequence_length"):
            if key in manifest:
                info[key] = manifest[key]
        result.append(info)
    return result


def expected_checksums(name, zoo_dir=None):
    """The SHA-256 sums recorded for zoo preset `name` in its results.json."""
    results_path = os.path.join(_zoo_dir(zoo_dir), name, "results.json")
    if not os.path.exists(results_path):
        return None
    return read_json(results_path).get("preset", {}).get("files")


def verify(path, expected=None):
    """Check a preset folder's files against SHA-256 sums.

    Args:
        path: the preset folder.
        expected: {file: sha256}; default: the sums in the preset's own
            `keras_ssl.json`.

    Raises:
        FileNotFoundError: a listed file is missing (named in the message).
        ValueError: a file's checksum differs (file, expected and found sums).
    """
    path = os.fspath(path)
    if expected is None:
        expected = read_manifest(path).get("files", {})
    if not expected:
        raise ValueError(f"`preset` {path!r} lists no files to verify.")
    for name, digest in sorted(expected.items()):
        file_path = os.path.join(path, name)
        if not os.path.isfile(file_path):
            raise FileNotFoundError(
                f"The preset {path!r} is missing the file {name!r}: fetch or "
                "write it again (keras-ssl zoo fetch / keras-ssl zoo run)."
            )
        found = sha256(file_path)
        if found != digest:
            raise ValueError(
                f"The preset file {os.path.join(path, name)!r} has SHA-256 {found}, "
                f"expected {digest}: the file is corrupt or was changed. Fetch or "
                "write the preset again."
            )
    return path


_verify = verify  # `resolve` takes a `verify` flag of the same name.


def resolve(preset, verify=True, zoo_dir=None):
    """The local folder (or hub handle) of `preset`, checked.

    A zoo name resolves to `models/NAME/preset` and is verified against the
    sums in the zoo card; a local folder against its own manifest (when it
    has one); a keras-hub handle (`hf://`, `kaggle://`, ...) is returned as
    it is, for keras-hub to download.
    """
    if not isinstance(preset, (str, os.PathLike)):
        raise TypeError(f"`preset` must be a name or a path, got {type(preset).__name__}.")
    preset = os.fspath(preset)
    if preset.startswith(HUB_SCHEMES):
        return preset
    known = names(zoo_dir)
    if preset in known:
        path = zoo_preset_dir(preset, zoo_dir)
        if verify:
            _verify(path, expected_checksums(preset, zoo_dir))
        return path
    if os.path.isdir(preset):
        if not os.path.exists(os.path.join(preset, CONFIG_FILE)):
            raise ValueError(
                f"`preset` {preset!r} is a folder without {CONFIG_FILE}: not a preset."
            )
        if verify and os.path.exists(os.path.join(preset, MANIFEST_FILE)):
            _verify(preset)
        return preset
    raise ValueError(
        f"Unknown preset {preset!r}: not a folder, and not one of the zoo's presets "
        f"({', '.join(known) or 'none shipped'}). Hub handles start with "
        f"{', '.join(HUB_SCHEMES)}."
    )


def save(backbone, path, card=None, tokenizer=None, overwrite=False, **info):
    """Write `backbone` (and its tokenizer) as a keras-hub preset folder.

    Args:
        backbone: a keras-hub `Backbone`: any keras_ssl encoder
            (`model.encoder`) or a `keras_hub.models.BertBackbone`.
        path: the folder to write; built beside it and renamed into place,
            so an interrupted save leaves nothing half-written.
        card: results to keep with the weights (e.g. a recipe's
            results.json, or your own dict of numbers).
        tokenizer: a keras-hub tokenizer saved with the backbone (text).
        overwrite: replace an existing folder.
        **info: more fields for `keras_ssl.json` (`method`, `dataset`,
            `modality`, `sequence_length`, ...).

    Returns:
        `path`. Publish it with `keras_hub.upload_preset(uri, path)`.

    Example:

    >>> import keras_ssl, tempfile, os
    >>> encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8,))
    >>> path = save(encoder, os.path.join(tempfile.mkdtemp(), "p"), method="simclr")
    >>> sorted(os.listdir(path))
    ['README.md', 'config.json', 'keras_ssl.json', 'metadata.json', 'model.weights.h5']
    """
    import keras_hub

    if not isinstance(backbone, keras_hub.models.Backbone):
        raise TypeError(
            "`backbone` must be a keras-hub Backbone (a keras_ssl encoder such as "
            f"model.encoder, or a keras_hub BertBackbone), got {type(backbone).__name__}."
        )
    path, _, tmp_dir = staging_dir(path, overwrite, argument="path")
    try:
        backbone.save_to_preset(tmp_dir)
        if tokenizer is not None:
            tokenizer.save_to_preset(tmp_dir)
        files = {}
        for root, _, file_names in os.walk(tmp_dir):
            for file_name in file_names:
                full = os.path.join(root, file_name)
                files[os.path.relpath(full, tmp_dir).replace(os.sep, "/")] = sha256(full)
        manifest = {
            "format": "keras_ssl.preset",
            "keras_ssl_version": __version__,
            "keras_version": keras.__version__,
            "class_name": type(backbone).__name__,
            "parameters": int(backbone.count_params()),
        }
        if isinstance(getattr(backbone, "input_shape", None), tuple) and len(
                backbone.input_shape) in (4, 5):  # images, videos
            manifest["input_shape"] = list(backbone.input_shape[1:])
        manifest.update(info)
        manifest["card"] = card or {}
        manifest["files"] = dict(sorted(files.items()))
        write_json(os.path.join(tmp_dir, MANIFEST_FILE), manifest)
        with open(os.path.join(tmp_dir, "README.md"), "w") as f:
            f.write(_readme(os.path.basename(os.path.abspath(path)), manifest))
        replace_atomically(tmp_dir, path, overwrite, argument="path")
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return path


def _readme(name, manifest):
    lines = [f"# {name}", ""]
    what = ", ".join(
        f"{key} {manifest[key]}" for key in ("method", "dataset", "modality") if manifest.get(key)
    )
    lines.append(
        f"A `{manifest['class_name']}` encoder ({manifest['parameters']:,} parameters) "
        f"pretrained with keras_ssl{': ' + what if what else ''}."
    )
    numbers = {k: v for k, v in manifest.get("card", {}).items() if isinstance(v, float)}
    if numbers:
        lines += ["", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" for k, v in numbers.items()]
    lines += [
        "",
        "```python",
        "import keras_ssl",
        "encoder = keras_ssl.backbones.Backbone.from_preset(PATH_OR_HANDLE)",
        "```",
        "",
        f"Weights SHA-256: `{manifest['files'].get(WEIGHTS_FILE, '?')}`",
        "",
    ]
    return "\n".join(lines)


def fetch(name, out, overwrite=False, zoo_dir=None):
    """Copy zoo preset `name` to folder `out` and verify the copy.

    The copy is built beside `out` and renamed into place after its SHA-256
    sums match the zoo card's, so `out` never holds a partial or corrupt
    preset. Returns `out`.
    """
    source = resolve(name, verify=True, zoo_dir=zoo_dir)
    if source.startswith(HUB_SCHEMES):
        raise ValueError(
            f"`name` {name!r} is a hub handle: load it with "
            "keras_ssl.backbones.Backbone.from_preset, which downloads and caches it."
        )
    expected = expected_checksums(name, zoo_dir) if name in names(zoo_dir) else None
    out, _, tmp_dir = staging_dir(out, overwrite, argument="out")
    try:
        target = os.path.join(tmp_dir, "preset")
        shutil.copytree(source, target)
        verify(target, expected)
        ready = tmp_dir + "-ready"
        os.rename(target, ready)
        shutil.rmtree(tmp_dir, ignore_errors=True)
        tmp_dir = ready
        replace_atomically(tmp_dir, out, overwrite, argument="out")
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return out


def load(preset, **kwargs):
    """`keras_ssl.backbones.Backbone.from_preset(preset, **kwargs)`."""
    from keras_ssl.backbones import Backbone

    return Backbone.from_preset(preset, **kwargs)


def load_tokenizer(preset, verify=True):
    """The tokenizer stored in a text preset (a keras-hub tokenizer)."""
    import keras_hub

    path = resolve(preset, verify=verify)
    if not path.startswith(HUB_SCHEMES) and not os.path.exists(
            os.path.join(path, "tokenizer.json")):
        raise ValueError(f"`preset` {preset!r} holds no tokenizer (it is not a text preset).")
    return keras_hub.tokenizers.Tokenizer.from_preset(path)


def backbone_name(preset, manifest):
    """The backbone name (`"resnet18"`, `"bert_tiny"`, ...) a preset was
    trained with: from its manifest, else its zoo recipe; None if unknown."""
    if manifest.get("backbone_name"):
        return manifest["backbone_name"]
    name = manifest.get("name") or os.fspath(preset)
    if name in names():
        from keras_ssl import zoo

        return zoo.load_recipe(name).get("backbone")
    return None


def adapt_to_input_shape(encoder, input_shape, what="the encoder"):
    """`encoder`, rebuilt for images of `input_shape` with the same weights.

    Convolutional encoders (ResNet, ConvNet) take any image size with the
    same weights; they are rebuilt from their config at the new size,
    keeping the stem they were trained with. The channels must match, and
    an encoder whose weights depend on the size (a ViT's position
    embeddings) raises a clear error naming both shapes.
    """
    input_shape = tuple(int(d) for d in input_shape)
    current = tuple(int(d) for d in encoder.input_shape[1:])
    if current == input_shape:
        return encoder
    if current[-1] != input_shape[-1]:
        raise ValueError(
            f"{what} takes images with {current[-1]} channel(s), the data has "
            f"{input_shape[-1]}: convert the images (`channels`={current[-1]})."
        )
    config = encoder.get_config()
    if "input_shape" not in config:
        raise ValueError(f"{what} takes images of shape {current}, not {input_shape}.")
    config["input_shape"] = list(input_shape)
    if config.get("stem") == "auto":  # the stem chosen by size must not change
        config["stem"] = encoder.stem_in_use
    rebuilt = type(encoder).from_config(config)
    try:
        rebuilt.set_weights(encoder.get_weights())
    except ValueError as e:
        raise ValueError(
            f"{what} takes images of shape {current}; its {type(encoder).__name__} weights do "
            f"not fit images of shape {input_shape}. Use images of {current[0]}x{current[1]} "
            f"(`image_size`={current[0]})."
        ) from e
    return rebuilt


def check_input_shape(encoder, data_shape, preset="the encoder"):
    """Raise a clear error when images of `data_shape` do not fit `encoder`."""
    expected = tuple(encoder.input_shape[1:])
    got = tuple(int(d) for d in data_shape)
    if expected != got:
        raise ValueError(
            f"{preset} takes images of shape {expected}, but the data's images have "
            f"shape {got}. Use data of the preset's shape (see its keras_ssl.json), "
            "or resize the images first."
        )
