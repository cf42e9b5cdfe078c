"""Small BERT backbones built from config (keras-hub's BertBackbone)."""

import keras_hub


def BertTiny(vocabulary_size, max_sequence_length=128, **kwargs):
    """A 2-layer, 128-wide BERT (Turc et al. 2019's BERT-Tiny sizes).

    Returns a `keras_hub.models.BertBackbone` built from config (no preset
    download). Override any size with keyword arguments.

    Example:

    >>> BertTiny(vocabulary_size=100).hidden_dim
    128
    """
    config = dict(num_layers=2, num_heads=2, hidden_dim=128, intermediate_dim=512, dropout=0.1)
    config.update(kwargs)
    return keras_hub.models.BertBackbone(
        vocabulary_size=int(vocabulary_size), max_sequence_length=int(max_sequence_length),
        **config,
    )


def BertSmall(vocabulary_size, max_sequence_length=128, **kwargs):
    """A 4-layer, 256-wide BERT (BERT-Mini sizes), built from config."""
    config = dict(num_layers=4, num_heads=4, hidden_dim=256, intermediate_dim=1024, dropout=0.1)
    config.update(kwargs)
    return keras_hub.models.BertBackbone(
        vocabulary_size=int(vocabulary_size), max_sequence_length=int(max_sequence_length),
        **config,
    )
