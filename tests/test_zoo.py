import os

import pytest

import keras_ssl
from keras_ssl import training
from keras_ssl import zoo

RECIPES = zoo.list_recipes()


def test_there_are_recipes():
    assert "simclr_resnet18_fashion_mnist" in RECIPES


@pytest.mark.parametrize("name", RECIPES)
def test_card_numbers_come_from_results_json(name):
    recipe_dir = os.path.join(zoo.default_zoo_dir(), name)
    card = open(os.path.join(recipe_dir, "README.md")).read()
    results_path = os.path.join(recipe_dir, "results.json")
    if not os.path.exists(results_path):
        assert zoo.CARD_BEGIN not in card, "card shows results but results.json is missing"
        pytest.skip(f"{name} has not been run at its full budget yet")
    results = training.read_json(results_path)
    # Regenerating the card from results.json must not change it: nothing in
    # the generated block was typed by hand.
    regenerated = zoo.render_card(name)
    assert regenerated == card
    values = zoo.flat_values(results)
    for number in zoo.card_numbers(name):
        assert any(abs(number - round(v, 4)) < 1e-9 for v in values), number
    assert results["command"] in card


def test_readme_table_matches_results():
    readme = os.path.join(os.path.dirname(zoo.default_zoo_dir()), "README.md")
    text = open(readme).read()
    block = text.split(zoo.CARD_BEGIN)[1].split(zoo.CARD_END)[0]
    assert block.strip() == zoo.readme_table().strip()


@pytest.mark.slow
@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_runs_at_a_tiny_budget(name, tmp_path):
    results = zoo.run_recipe(name, out_dir=str(tmp_path), budget_minutes=0.05, quick=True,
                             verbose=0)
    assert results["recipe"] == name
    assert os.path.exists(tmp_path / "results.json")
    exported = keras_ssl.modalities.of_results(results).export_dirname
    assert os.path.exists(tmp_path / "run" / exported / "saved_model.pb")
    for value in results["pretrained"].values():
        assert 0.0 <= value <= 1.0
    for png in results.get("plots", []):
        assert (tmp_path / "run" / png).stat().st_size > 2000, png
    assert "embeddings_pca.png" in results["plots"]
    table = zoo.results_table(results)
    assert "random" in table
    # The trained encoder is written as a preset that loads and verifies;
    # the published zoo folder is left alone by a short run.
    preset = tmp_path / "preset"
    assert results["preset"]["files"] == keras_ssl.presets.read_manifest(str(preset))["files"]
    keras_ssl.presets.verify(str(preset))
    encoder = keras_ssl.backbones.Backbone.from_preset(str(preset))
    assert encoder.count_params() == results["preset"]["parameters"]
    assert results["preset"]["path"] == str(preset)
    # TensorBoard's Embedding Projector files sit in the run's logs.
    logs = tmp_path / "run" / "logs"
    assert (logs / "projector_config.pbtxt").exists() and (logs / "metadata.tsv").exists()
