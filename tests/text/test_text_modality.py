"""The text registry entry: every text method and backbone family through the
shared run path, corpora from a CSV column and from a labelled task's own
texts (domain-adaptive pretraining)."""

import json

import pytest

from keras_ssl import modalities
from keras_ssl import text
from keras_ssl import training


@pytest.mark.slow
def test_sop_on_albert_from_a_csv_column(tmp_path):
    corpus = tmp_path / "reviews.csv"
    rows = [f'{i % 2},"the {a} {b} sat on the {c} mat. then it slept all day"'
            for i, (a, b, c) in enumerate((a, b, c) for a in ("red", "big", "old", "shy")
                                          for b in ("cat", "dog", "fox")
                                          for c in ("blue", "warm", "cold"))]
    corpus.write_text("label,text\n" + "\n".join(rows) + "\n")
    run = training.pretrain(str(tmp_path / "sop"), method="sop", backbone="albert_tiny",
                            dataset=str(corpus), text_column="text", epochs=1, batch_size=8,
                            sequence_length=24, vocabulary_size=60, min_length=5, verbose=0)
    config = json.loads((tmp_path / "sop" / "config.json").read_text())
    assert config["options"]["tokenizer"] == "sentencepiece"
    assert config["options"]["task"] == "sms_spam"
    summary = run["summary"]
    assert 0.0 <= summary["held_out_sentence_accuracy"] <= 1.0
    assert 0.0 <= summary["held_out_masked_accuracy"] <= 1.0
    assert run["model"].sentence_task == "sop"
    assert (tmp_path / "sop" / "text_encoder" / "saved_model.pb").exists()
    saved = text.load_tokenizer(str(tmp_path / "sop" / "sentencepiece.model"))
    assert saved.get_vocabulary() == run["model"].tokenizer.get_vocabulary()
    model, _, modality = training.load_run(str(tmp_path / "sop"))
    assert modality.name == "text" and model.sentence_task == "sop"


@pytest.mark.slow
def test_simcse_pretrains_on_a_tasks_own_texts(tmp_path):
    run = training.pretrain(str(tmp_path / "cse"), method="simcse", dataset="sms_spam",
                            epochs=1, batch_size=16, limit=32, sequence_length=16,
                            vocabulary_size=200, export=False, verbose=0)
    assert run["config"]["options"]["task"] == "sms_spam"
    assert run["summary"]["steps"] == 2 and "held_out_contrastive_accuracy" in run["summary"]
    assert "held_out_perplexity" not in run["summary"]
    # The corpus is the training split's texts: no test message is read.
    (x_train, _), (x_test, _) = modalities.text.load_task("sms_spam")
    corpus = set(run["data"]["train"]) | set(run["data"]["held_out"])
    assert corpus <= set(x_train) and not corpus & set(x_test)
    table = modalities.get("text").results_table({
        "method": "simcse", "backbone": "bert_tiny", "label_fractions": [0.01],
        "pretrained": {"linear_probe@1%": 0.5}, "random_init": {},
        "pretrain": dict(run["summary"], examples_per_second=10.0), "sequence_length": 16})
    assert "SimCSE-pretrained BERT" in table and "Contrastive accuracy after pretraining" in table
