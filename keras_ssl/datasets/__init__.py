"""keras_ssl.datasets."""
