"""keras_ssl.backbones."""
