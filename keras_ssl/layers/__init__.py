"""keras_ssl.layers."""
