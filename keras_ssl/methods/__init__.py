"""keras_ssl.methods."""
