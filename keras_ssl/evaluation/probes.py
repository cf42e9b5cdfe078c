"""Frozen-encoder evaluation: feature extraction, linear probe, kNN."""

import numpy as np

from keras_ssl.methods.ssl_method import encoder_feature_dim


def _check_pair(name, data):
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"`{name}` must be a pair (x, y), got {type(data).__name__}.")
    x, y = data
    y = np.asarray(y)
    if len(x) == 0:
        raise ValueError(f"`{name}` is empty: expected at least one sample.")
    if len(x) != len(y):
        raise ValueError(f"`{name}` has {len(x)} samples but {len(y)} labels.")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"`{name}` labels must be a 1-d array of integer class ids, got "
            f"dtype {y.dtype} and shape {y.shape}."
        )
    return x, y


def feature_model(encoder, feature_layers=None):
    """A model from the encoder's inputs to features read at `feature_layers`.

    `feature_layers` names one layer or several of a functional encoder
    (`encoder.get_layer(name)`); each one's output is average-pooled over
    its spatial positions (images, `(N, H, W, C)`) or tokens (sequences,
    `(N, T, D)`) and the pooled vectors are concatenated. Intermediate
    blocks often probe better than the last one for pretext tasks such as
    rotation prediction (Gidaris et al. 2018) and masked image modelling.
    `None` returns the encoder itself. The returned model shares the
    encoder's weights.
    """
    import keras

    if feature_layers is None:
        return encoder
    names = [feature_layers] if isinstance(feature_layers, str) else list(feature_layers)
    if not names or not all(isinstance(name, str) for name in names):
        raise ValueError(
            "`feature_layers` must be a layer name or a non-empty list of layer names, got "
            f"{feature_layers!r}."
        )
    if not isinstance(encoder, keras.Model) or not hasattr(encoder, "inputs") or not encoder.inputs:
        raise ValueError(
            "`feature_layers` needs a functional Keras encoder (one with `inputs`), got "
            f"{type(encoder).__name__}."
        )
    known = [layer.name for layer in encoder.layers]
    pooled = []
    for name in names:
        if name not in known:
            raise ValueError(
                f"`feature_layers` names {name!r}, which is not a layer of encoder "
                f"{encoder.name!r}; its layers include {known[-12:]}."
            )
        output = encoder.get_layer(name).output
        rank = len(output.shape)
        if rank == 4:
            output = keras.layers.GlobalAveragePooling2D(name=f"{name}_probe_pool")(output)
        elif rank == 3:
            output = keras.layers.GlobalAveragePooling1D(name=f"{name}_probe_pool")(output)
        elif rank != 2:
            raise ValueError(
                f"`feature_layers`: layer {name!r} outputs rank-{rank} tensors; expected "
                "(N, D), (N, T, D) or (N, H, W, C)."
            )
        pooled.append(output)
    outputs = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(
        name="probe_features")(pooled)
    return keras.Model(encoder.inputs, outputs, name=f"{encoder.name}_features")


def extract_features(encoder, x, batch_size=256, verbose=0, feature_layers=None):
    """Features of `x` from a frozen encoder (inference mode), as numpy.

    `feature_layers`: read (pooled, concatenated) features at these layers
    instead of the encoder's output; see `feature_model`.
    """
    encoder = feature_model(encoder, feature_layers)
    encoder_feature_dim(encoder)
    if len(x) == 0:
        raise ValueError("`x` is empty: expected at least one sample.")
    return np.asarray(encoder.predict(x, batch_size=batch_size, verbose=verbose))


def _features(encoder, x, precomputed, batch_size):
    if precomputed:
        x = np.asarray(x, dtype="float32")
        if x.ndim != 2:
            raise ValueError(
                f"With precomputed=True, pass (N, D) features; got shape {x.shape}."
            )
        return x
    return extract_features(encoder, x, batch_size=batch_size)


def linear_probe(
    encoder,
    train_data,
    test_data,
    batch_size=256,
    max_iter=1000,
    C=1.0,
    precomputed=False,
    return_classifier=False,
    feature_layers=None,
):
    """Test accuracy of a linear classifier on frozen encoder features.

    Features are computed once (inference mode), standardised with the
    training features' mean and deviation, and a multinomial logistic
    regression (softmax classifier) is fit with L-BFGS. scikit-learn's
    solver is used because it is deterministic and converges without a
    learning-rate schedule to tune, the usual choice for linear evaluation
    on small label sets.

    Args:
        encoder: a `keras.Model` mapping images to (N, D) features; `None`
            with `precomputed=True`.
        train_data: `(x, y)` with integer labels.
        test_data: `(x, y)`.
        C: inverse L2 regularisation strength.
        precomputed: `x` are already (N, D) features.
        return_classifier: also return the fitted (scaler, classifier).
        feature_layers: probe the pooled, concatenated outputs of these
            encoder layers instead of its output (`feature_model`).

    Returns:
        Accuracy, a float in [0, 1].
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x_train, y_train = _check_pair("train_data", train_data)
    x_test, y_test = _check_pair("test_data", test_data)
    if not precomputed:
        encoder = feature_model(encoder, feature_layers)
    f_train = _features(encoder, x_train, precomputed, batch_size)
    f_test = _features(encoder, x_test, precomputed, batch_size)
    scaler = StandardScaler().fit(f_train)
    classifier = LogisticRegression(C=C, max_iter=max_iter)
    classifier.fit(scaler.transform(f_train), y_train)
    accuracy = float(np.mean(classifier.predict(scaler.transform(f_test)) == y_test))
    if return_classifier:
        return accuracy, (scaler, classifier)
    return accuracy


def knn_predict(train_features, train_labels, test_features, k=20, temperature=0.07,
                num_classes=None, chunk=1024):
    """Weighted kNN votes on cosine similarity (Wu et al. 2018)."""
    if int(k) < 1:
        raise ValueError(f"`k` must be >= 1, got {k!r}.")
    if temperature <= 0:
        raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")

    def normalise(f):
        f = np.asarray(f, dtype="float32")
        return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)

    train = normalise(train_features)
    test = normalise(test_features)
    labels = np.asarray(train_labels)
    num_classes = num_classes or int(labels.max()) + 1
    k = min(int(k), len(train))
    predictions = []
    for start in range(0, len(test), chunk):
        sim = test[start : start + chunk] @ train.T
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        top_sim = np.take_along_axis(sim, top, axis=1)
        weights = np.exp(top_sim / temperature - np.max(top_sim / temperature, axis=1, keepdims=True))
        votes = np.zeros((len(top), num_classes), dtype="float64")
        np.add.at(votes, (np.arange(len(top))[:, None], labels[top]), weights)
        predictions.append(np.argmax(votes, axis=1))
    return np.concatenate(predictions)


def knn_accuracy(
    encoder,
    train_data,
    test_data,
    k=20,
    temperature=0.07,
    batch_size=256,
    precomputed=False,
    feature_layers=None,
):
    """Test accuracy of a weighted kNN classifier on L2-normalised features.

    Each test sample's `k` nearest training samples (cosine similarity) vote
    with weight exp(similarity / temperature), as in Wu et al. 2018 and
    solo-learn's kNN evaluation. No training, so it is cheap to run every
    epoch. `feature_layers` as in `linear_probe`.
    """
    x_train, y_train = _check_pair("train_data", train_data)
    x_test, y_test = _check_pair("test_data", test_data)
    if not precomputed:
        encoder = feature_model(encoder, feature_layers)
    f_train = _features(encoder, x_train, precomputed, batch_size)
    f_test = _features(encoder, x_test, precomputed, batch_size)
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    predictions = knn_predict(f_train, y_train, f_test, k=k, temperature=temperature,
                              num_classes=num_classes)
    return float(np.mean(predictions == y_test))


def classification_report(y_true, y_pred):
    """Accuracy and macro-averaged F1 score."""
    from sklearn.metrics import f1_score

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
    }


def inference_cost(encoder, images, batch_size=256, repeats=3):
    """Parameters and inference throughput of an encoder.

    Returns `{"parameters": int, "images_per_second": float}`: the median
    over `repeats` timed passes over `images` (batches of `batch_size`,
    one untimed pass first to build and warm the predict function). What
    deployment cares about when a smaller encoder replaces a larger one.

    `encoder` may also be a keras_ssl text method and `images` its raw
    texts (strings): then `{"parameters", "texts_per_second"}`, the
    parameters of the method's transformer (`backbone`; not its pretext
    heads or a distillation teacher) and texts embedded per second, from
    strings (tokenized, packed and encoded, as the exported string-in
    SavedModel serves them).
    """
    import time

    if len(images) == 0:
        raise ValueError("`images` is empty: expected at least one image or text to time.")
    if int(repeats) < 1:
        raise ValueError(f"`repeats` must be >= 1, got {repeats!r}.")
    texts = np.asarray(images).dtype.kind in "USO"
    if texts:
        if not hasattr(encoder, "tokenizer"):
            raise TypeError("`images` are strings: `encoder` must be a keras_ssl text method "
                            f"(with a tokenizer), got {type(encoder).__name__}.")
        x, parameters, unit = [str(t) for t in images], encoder.backbone.count_params(), "texts"
    else:
        x, parameters = np.asarray(images, dtype="float32"), encoder.count_params()
        unit = "images"
    encoder.predict(x[:batch_size], batch_size=batch_size, verbose=0)
    rates = []
    for _ in range(int(repeats)):
        start = time.perf_counter()
        encoder.predict(x, batch_size=batch_size, verbose=0)
        rates.append(len(x) / (time.perf_counter() - start))
    return {"parameters": int(parameters), f"{unit}_per_second": float(np.median(rates))}
