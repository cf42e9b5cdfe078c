import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.export_text import export_text_encoder


def test_export_reload_same_outputs_and_string_signature(make_mlm, sentences, tmp_path):
    mlm = make_mlm()
    path = export_text_encoder(mlm, str(tmp_path / "text"))
    serve = tf.saved_model.load(path).signatures["serving_default"]
    args, kwargs = serve.structured_input_signature
    assert not args and list(kwargs) == ["texts"]
    assert kwargs["texts"].dtype == tf.string and kwargs["texts"].shape.as_list() == [None]
    texts = tf.constant(sentences[:3] + ["words never seen: zebra quantum"])
    out = serve(texts)
    np.testing.assert_allclose(out["pooled_output"].numpy(), mlm(texts).numpy(), atol=1e-5)
    np.testing.assert_allclose(
        out["sequence_output"].numpy(), mlm.encode(texts)["sequence_output"].numpy(), atol=1e-5)
    assert out["sequence_output"].shape == (4, 16, 32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="string"):
        serve(tf.constant([1, 2, 3]))
    extra = os.path.join(path, "keras_ssl")
    with open(os.path.join(extra, "metadata.json")) as f:
        assert json.load(f)["sequence_length"] == 16
    with open(os.path.join(extra, "vocabulary.txt")) as f:
        assert f.read().split("\n")[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert os.path.exists(os.path.join(extra, "model.keras"))

    cli = shutil.which("saved_model_cli")
    cmd = [cli] if cli else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    shown = subprocess.run(
        cmd + ["show", "--dir", path, "--tag_set", "serve", "--signature_def",
               "serving_default"], capture_output=True, text=True, check=True).stdout
    assert "DT_STRING" in shown and "pooled_output" in shown and "sequence_output" in shown

    with pytest.raises(FileExistsError, match="overwrite"):
        export_text_encoder(mlm, path)
    assert export_text_encoder(mlm, path, overwrite=True) == path


def test_export_rejects_other_models(tmp_path):
    with pytest.raises(TypeError, match="MaskedLanguageModel"):
        export_text_encoder(object(), str(tmp_path / "x"))
    assert not os.path.exists(tmp_path / "x")
