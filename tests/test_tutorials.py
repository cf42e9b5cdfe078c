"""Every tutorial notebook runs end to end, at tiny sizes, through papermill."""

import os

import pytest

TUTORIALS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tutorials")

TINY = {
    "01_simclr_quickstart.ipynb": {"DATASET": "digits", "EPOCHS": 1, "LIMIT": 512,
                                   "BATCH_SIZE": 64},
    "02_masked_autoencoders.ipynb": {"DATASET": "digits", "EPOCHS": 1, "LIMIT": 512,
                                     "BATCH_SIZE": 64},
    "03_bert_mlm_text_classifier.ipynb": {"MAX_LINES": 300, "EPOCHS": 1,
                                          "VOCABULARY_SIZE": 300, "SEQUENCE_LENGTH": 32},
    "04_export_and_serve.ipynb": {},
    "05_write_your_own_method.ipynb": {"EPOCHS": 1, "LIMIT": 256},
    "06_time_series.ipynb": {"EPOCHS": 1, "METHOD": "wav2vec2"},
    "07_language_models.ipynb": {"EPOCHS": 1, "LIMIT": 300, "VOCABULARY_SIZE": 300,
                                 "SEQUENCE_LENGTH": 32, "FINE_TUNE_STEPS": 3},
    "08_your_own_images.ipynb": {"DATASET": "digits", "NUM_IMAGES": 256, "NUM_LABELLED": 100,
                                 "IMAGE_SIZE": 16, "EPOCHS": 1, "BATCH_SIZE": 64},
    "09_video.ipynb": {"DATASET": "moving_digits", "NUM_VIDEOS": 64, "NUM_TEST": 40,
                       "FRAMES": 4, "SIZE": 16, "EPOCHS": 1, "BATCH_SIZE": 16,
                       "HIDDEN_DIM": 16, "NUM_LAYERS": 1, "WIDTH": 0.125},
    "10_clip_emoji.ipynb": {"IMAGE_SIZE": 16, "WIDTH": 0.125, "SEQUENCE_LENGTH": 16,
                            "TEXT_HIDDEN": 16, "TEXT_LAYERS": 1, "EMBEDDING_DIM": 8,
                            "BATCH_SIZE": 64, "EPOCHS": 1},
    "11_robust_and_small.ipynb": {"LIMIT": 256, "NUM_LABELLED": 100, "NUM_TEST": 60,
                                  "EPOCHS": 1, "BATCH_SIZE": 128, "FINE_TUNE_EPOCHS": 1,
                                  "TRAIN_STEPS": 1, "ATTACK_STEPS": 2, "EPSILONS": [0.1],
                                  "CORRUPTIONS": ["gaussian_noise", "contrast"],
                                  "SEVERITIES": [1]},
}


def test_every_notebook_has_tiny_parameters():
    assert sorted(n for n in os.listdir(TUTORIALS) if n.endswith(".ipynb")) == sorted(TINY)


def test_outputs_are_stripped():
    import nbformat

    for name in TINY:
        book = nbformat.read(os.path.join(TUTORIALS, name), as_version=4)
        assert any("parameters" in c.metadata.get("tags", []) for c in book.cells), name
        for cell in book.cells:
            if cell.cell_type == "code":
                assert not cell.outputs, f"{name} has stored outputs"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_notebook_runs(name, tmp_path, monkeypatch):
    import papermill

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    repo = os.path.dirname(TUTORIALS)
    monkeypatch.setenv("PYTHONPATH", repo + os.pathsep + os.environ.get("PYTHONPATH", ""))
    params = dict(TINY[name])
    if name != "05_write_your_own_method.ipynb" and name != "02_masked_autoencoders.ipynb":
        params["OUT"] = str(tmp_path / "out")
    papermill.execute_notebook(
        os.path.join(TUTORIALS, name), str(tmp_path / name), parameters=params,
        kernel_name="python3", progress_bar=False, cwd=str(tmp_path),
    )
