"""The base class of keras_ssl's image encoders: a keras-hub `Backbone`."""

import keras_hub

from keras_hub.src.utils.python_utils import classproperty


class Backbone(keras_hub.models.Backbone):
    """Base class of keras_ssl's encoders (ResNet, ViT, ConvNet).

    A keras-hub `Backbone` (a functional `keras.Model`), so keras-hub's
    preset machinery works on it unchanged: `save_to_preset(dir)` writes
    keras-hub's preset layout (`config.json`, `model.weights.h5`,
    `metadata.json`), `keras_hub.models.Backbone.from_preset(dir)` loads it
    back (after `import keras_ssl`, which registers the classes), and
    `keras_hub.upload_preset("hf://..." or "kaggle://...", dir)` publishes
    it.

    `from_preset` here also accepts the names of the presets that ship with
    keras_ssl's model zoo (`keras_ssl.presets.available()`), and checks
    their files against the SHA-256 sums recorded in their model cards
    before loading.

    Example:

    >>> import keras_ssl, tempfile, os
    >>> encoder = keras_ssl.backbones.ConvNet(input_shape=(16, 16, 1), filters=(8,))
    >>> path = os.path.join(tempfile.mkdtemp(), "preset")
    >>> encoder.save_to_preset(path)
    >>> type(keras_ssl.backbones.Backbone.from_preset(path)).__name__
    'ConvNet'
    """

    @classproperty
    def presets(cls):
        """The zoo's presets whose encoder is this class (or a subclass)."""
        from keras_ssl import presets

        return {
            info["name"]: info
            for info in presets.available()
            if cls is Backbone or info.get("class_name") == cls.__name__
        }

    @classmethod
    def from_preset(cls, preset, load_weights=True, verify=True, **kwargs):
        """Load an encoder from a preset: a zoo name, a folder or a hub handle.

        Args:
            preset: the name of a preset of keras_ssl's zoo (see
                `keras_ssl.presets.available()`), a local preset folder, or
                a keras-hub handle (`"hf://user/name"`,
                `"kaggle://user/model/keras/variation"`), which keras-hub
                downloads and caches.
            load_weights: load the trained weights (False: random weights of
                the same architecture, e.g. a baseline).
            verify: check the files of a local preset against their SHA-256
                sums (the zoo card's for a zoo name, else the preset's own
                `keras_ssl.json`) before loading.
            **kwargs: passed to keras-hub's loader (e.g. `dtype`).

        Called on `keras_ssl.backbones.Backbone` it returns whatever
        backbone the preset holds (a `keras_hub.models.BertBackbone` for a
        text preset); called on a subclass it checks the preset holds that
        class.
        """
        from keras_ssl import presets

        path = presets.resolve(preset, verify=verify)
        base = keras_hub.models.Backbone if cls is Backbone else cls
        return keras_hub.models.Backbone.from_preset.__func__(
            base, path, load_weights=load_weights, **kwargs
        )
