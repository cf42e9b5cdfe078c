"""keras_ssl.evaluation."""
