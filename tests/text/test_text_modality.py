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


@pytest.mark.slow
def test_tinybert_distills_a_teacher_run_and_the_card_compares_them(tmp_path, capsys):
    from keras_ssl import cli

    # A teacher run (a 2-layer, 32-wide BERT) distilled by the CLI into a
    # BERT-Tiny student that keeps the teacher's tokenizer.
    training.pretrain(str(tmp_path / "teacher"), method="mlm", backbone="bert_small",
                      dataset="sms_spam", epochs=1, batch_size=16, limit=32, sequence_length=16,
                      vocabulary_size=200, export=False, verbose=0,
                      backbone_kwargs={"num_layers": 2, "num_heads": 2, "hidden_dim": 32,
                                       "intermediate_dim": 64})
    out = tmp_path / "student"
    assert cli.main(["distill", "--mode", "tinybert", "--teacher", str(tmp_path / "teacher"),
                     "--student", "bert_tiny", "--dataset", "sms_spam", "--epochs", "1",
                     "--batch-size", "16", "--limit", "32", "--sequence-length", "16",
                     "--out", str(out)]) == 0
    assert "Distilled" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["method"] == "tinybert" and config["options"]["tokenizer"] == "teacher"
    assert config["method_kwargs"] == {"teacher": str(tmp_path / "teacher")}
    assert (out / "text_encoder" / "saved_model.pb").exists()
    model, run_config, modality = training.load_run(str(out))
    teacher = model.teacher
    assert model.tokenizer.get_vocabulary() == teacher.tokenizer.get_vocabulary()
    assert model.backbone.hidden_dim == 128 and teacher.backbone.hidden_dim == 32
    # The card's evaluation: the teacher beside the student (probes,
    # fine-tuning, size and speed) and the student fine-tuned with FGM.
    run = {"model": model, "config": run_config, "run_dir": str(out),
           "data": {"tokenizer": model.tokenizer, "teacher": teacher}}
    results = modality.evaluate(run, {"evaluation": {
        "label_fractions": [0.01], "adversarial": {"name": "fgm", "epsilon": 1.0}}}, quick=True)
    assert results["teacher"]["parameters"] == teacher.backbone.count_params()
    assert results["pretrained"]["parameters"] == model.backbone.count_params()
    assert results["teacher"]["texts_per_second"] > 0
    assert "accuracy@1%" not in results["teacher"]  # fine-tuned on its own card
    for section in ("pretrained", "random_init", "adversarial_fine_tune"):
        assert 0.0 <= results[section]["accuracy@1%"] <= 1.0, section
    assert 0.0 <= results["teacher"]["linear_probe@1%"] <= 1.0
    assert results["adversarial_fine_tune"]["attack"]["name"] == "fgm"
    summary = training.read_json(str(out / "pretrain.json"))
    table = modality.results_table(dict(
        results, method="tinybert", pretrain=dict(summary, examples_per_second=10.0)))
    assert f"| teacher (`{tmp_path / 'teacher'}`) |" in table
    assert "TinyBERT-pretrained BERT, fine-tuned with FGM (epsilon 1) |" in table
    assert "| encoder | parameters | texts/s at inference |" in table
    assert "Hidden-state loss after pretraining" in table


def test_tinybert_runs_need_a_text_teacher(tmp_path):
    with pytest.raises(ValueError, match="needs a teacher"):
        training.pretrain(str(tmp_path / "a"), method="tinybert", dataset="sms_spam",
                          check_only=True)
    with pytest.raises(ValueError, match="holds a image encoder; method 'tinybert'"):
        training.pretrain(str(tmp_path / "b"), method="tinybert", dataset="sms_spam",
                          check_only=True,
                          method_kwargs={"teacher": "simclr_resnet18_fashion_mnist"})
    with pytest.raises(ValueError, match="evaluation.adversarial"):
        modalities.get("text").check_evaluation({"adversarial": {"name": "pgdd"}})
