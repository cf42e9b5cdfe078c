"""`keras-ssl distill` and `keras-ssl robust` end to end at tiny sizes, from
one shared teacher run."""

import json

import pytest

from keras_ssl import cli


def run_cli(*argv):
    return cli.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("teacher") / "run"
    assert run_cli("pretrain", "--method", "simclr", "--dataset", "digits", "--backbone",
                   "resnet18", "--width-multiplier", "0.125", "--epochs", "1", "--batch-size",
                   "64", "--limit", "128", "--no-export", "--out", run) == 0
    return run


def test_distill_a_run_into_a_smaller_student(teacher_run, tmp_path, capsys):
    out = tmp_path / "student"
    assert run_cli("distill", "--teacher", teacher_run, "--student", "resnet18", "--width",
                   "0.0625", "--mode", "similarity", "--dataset", "digits", "--epochs", "1",
                   "--batch-size", "64", "--limit", "128", "--out", out) == 0
    text = capsys.readouterr().out
    assert "Distilled" in text and "x fewer" in text
    config = json.loads((out / "config.json").read_text())
    assert config["method"] == "distill" and config["options"]["width_multiplier"] == 0.0625
    assert config["method_kwargs"] == {"teacher": str(teacher_run), "mode": "similarity"}
    # The exported encoder is the student: fewer parameters than the teacher.
    from keras_ssl import export, training

    model, _, _ = training.load_run(out)
    assert model.encoder.count_params() < model.teacher.count_params() / 2
    assert (out / "encoder" / "saved_model.pb").exists()
    student = export.load_backbone(str(out / "encoder"))
    assert student.count_params() == model.encoder.count_params()
    assert run_cli("probe", "--run", out, "--fractions", "1") == 0
    assert "linear_probe@100%" in capsys.readouterr().out


def test_distill_rejects_bad_arguments(teacher_run, tmp_path, capsys):
    out = tmp_path / "bad"
    assert run_cli("distill", "--teacher", tmp_path / "nowhere", "--dataset", "digits",
                   "--out", out) == 2
    assert "nowhere" in capsys.readouterr().err
    assert run_cli("distill", "--teacher", teacher_run, "--method", "simclr", "--dataset",
                   "digits", "--out", out) == 2
    assert "trains the method distill" in capsys.readouterr().err
    assert run_cli("distill", "--teacher", teacher_run, "--student", "resnet18", "--backbone",
                   "resnet18", "--dataset", "digits", "--out", out) == 2
    assert "one of --student and --backbone" in capsys.readouterr().err
    # A student for other images than the teacher's is refused before training.
    assert run_cli("distill", "--teacher", teacher_run, "--dataset", "fashion_mnist",
                   "--limit", "64", "--out", out) == 2
    assert "input shape" in capsys.readouterr().err
    assert not (out / "model.keras").exists()
    # `pretrain --method distill` needs a teacher.
    assert run_cli("pretrain", "--method", "distill", "--dataset", "digits", "--out", out) == 2
    assert "needs a teacher" in capsys.readouterr().err


def test_robust_compares_fine_tuning_with_and_without_attacks(teacher_run, tmp_path, capsys):
    out = tmp_path / "robust"
    assert run_cli("robust", "--run", teacher_run, "--labels", "100", "--test-size", "60",
                   "--epochs", "1", "--train-steps", "1", "--steps", "2", "--epsilons", "0.05",
                   "--severities", "1", "--no-random", "--out", out) == 0
    text = capsys.readouterr().out
    report = json.loads((out / "robustness.json").read_text())
    assert report["labels"] == 100 and report["test_images"] == 60
    assert report["command"].startswith("keras-ssl robust --run ")
    labels = list(report["results"])
    # (--no-random: the randomly initialised twin, `random_like`, is tested
    # on its own, it costs as much as the run's two classifiers.)
    assert labels == ["run, standard fine-tuning", "run, adversarial fine-tuning"]
    for entry in report["results"].values():
        assert [r["epsilon"] for r in entry["attack"]] == [0.0, 0.05, 0.1]
        assert entry["robust"] == entry["attack"][-1]["accuracy"]
        assert entry["robust"] <= entry["clean"]
        assert entry["corruption"][0]["corruption"] == "clean"
        assert {r["severity"] for r in entry["corruption"][1:]} == {1}
    assert "| run | adversarial | " in text and "PGD-20" not in text and "PGD-2 at 0.1" in text
    assert (out / "robustness.png").stat().st_size > 1000


def test_robust_rejects_bad_arguments(teacher_run, tmp_path, capsys):
    assert run_cli("robust", "--out", tmp_path) == 2
    assert "Name the encoders" in capsys.readouterr().err
    assert run_cli("robust", "--run", teacher_run, "--epsilon", "8", "--out", tmp_path) == 2
    assert "`--epsilon` must be in (0, 1]" in capsys.readouterr().err
    assert run_cli("robust", "--run", teacher_run, "--dataset", "fashion_mnist",
                   "--out", tmp_path) == 2
    assert "takes images of shape" in capsys.readouterr().err
