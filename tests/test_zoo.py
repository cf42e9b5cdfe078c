import os

import pytest

import keras_ssl
from keras_ssl import training
from keras_ssl import zoo

RECIPES = zoo.list_recipes()


def _preset_backbone(config):
    """The backbone of a recipe that continues from a preset: its twin's,
    or the one the preset's manifest names."""
    if config.get("scratch_recipe"):
        return zoo.load_recipe(config["scratch_recipe"])["backbone"]
    preset = config["init_preset"]
    manifest = keras_ssl.presets.read_manifest(keras_ssl.presets.resolve(preset))
    return keras_ssl.presets.backbone_name(preset, manifest)


def _end_to_end_recipes():
    """One recipe per (modality, backbone family): each evaluation path runs once.

    Every recipe runs its own configuration in
    `test_every_recipe_config_trains`; the whole machinery (evaluation,
    plots, export, preset) runs for one representative of each path.
    """
    chosen = {}
    # SimCLR, the flagship recipe, represents the ResNet image path and MAE
    # the ViT one (BEiT's extra tokenizer stage runs in its own tests); the
    # BERT path is run by a recipe that continues from a preset, so loading
    # it, its tokenizer and the starting-point row of the card run too.
    # VideoMAE represents video, one recipe for the modality: a video
    # recipe's tiny run takes about 50 s (clips through two encoders), and
    # the per-frame path of frame order prediction runs end to end at tiny
    # sizes in tests/video/test_video_modality.py.
    # CLIP represents image and text, in English (the Chinese recipe differs
    # in its captions only).
    preferred = ("simclr_resnet18_", "mae_", "bert_tiny_simcse_from_mlm_", "videomae_", "clip_")
    one_per_modality = ("video", "image_text")
    for name in sorted(RECIPES, key=lambda name: (not name.startswith(preferred), name)):
        config = zoo.load_recipe(name)
        modality = keras_ssl.modalities.for_method(config["method"]).name
        backbone = config.get("backbone") or _preset_backbone(config)
        # Sizes of one family (bert_tiny, bert_small) share their path.
        family = backbone.split("_")[0]
        key = (modality,) if modality in one_per_modality else (modality, family)
        chosen.setdefault(key, name)
    return sorted(chosen.values())


END_TO_END = _end_to_end_recipes()


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


def test_a_recipe_without_a_card_gets_one_from_its_results(tmp_path):
    # A new recipe's first run writes its card instead of failing after it.
    name = "simclr_resnet18_fashion_mnist"
    os.makedirs(tmp_path / name)
    for filename in ("config.json", "results.json"):
        with open(os.path.join(zoo.default_zoo_dir(), name, filename)) as f:
            (tmp_path / name / filename).write_text(f.read())
    text = zoo.render_card(name, str(tmp_path))
    assert text.startswith(f"# {name}\n") and zoo.CARD_BEGIN in text and zoo.CARD_END in text
    assert (tmp_path / name / "README.md").read_text() == text
    assert zoo.render_card(name, str(tmp_path)) == text
    # A card written up to its "## Results" heading gets the block under it.
    (tmp_path / name / "README.md").write_text(f"# {name}\n\nAbout.\n\n## Results\n")
    text = zoo.render_card(name, str(tmp_path))
    assert text.count("## Results") == 1 and text.index("## Results") < text.index(zoo.CARD_BEGIN)


def test_recipe_evaluation_settings_are_checked_before_pretraining(tmp_path):
    for name in RECIPES:
        config = zoo.load_recipe(name)
        keras_ssl.modalities.for_method(config["method"]).check_evaluation(
            config.get("evaluation", {}))
    for modality in ("series", "video"):
        with pytest.raises(ValueError, match=r"Unknown `evaluation` settings \['fractions'\]"):
            keras_ssl.modalities.get(modality).check_evaluation({"fractions": [0.1]})
    config = dict(zoo.load_recipe("simclr_resnet18_fashion_mnist"), name="typo")
    config["evaluation"] = dict(config["evaluation"], fine_tune={"mix_up": 0.8})
    os.makedirs(tmp_path / "typo")
    training.write_json(str(tmp_path / "typo" / "config.json"), config)
    with pytest.raises(ValueError, match=r"Unknown `evaluation.fine_tune` settings \['mix_up'\]"):
        zoo.run_recipe("typo", out_dir=str(tmp_path / "out"), zoo_dir=str(tmp_path))
    assert not os.path.exists(tmp_path / "out" / "run")


def test_readme_table_matches_results():
    readme = os.path.join(os.path.dirname(zoo.default_zoo_dir()), "README.md")
    text = open(readme).read()
    block = text.split(zoo.CARD_BEGIN)[1].split(zoo.CARD_END)[0]
    assert block.strip() == zoo.readme_table().strip()


def test_end_to_end_recipes_cover_every_modality():
    modalities = {keras_ssl.modalities.for_method(zoo.load_recipe(name)["method"]).name
                  for name in RECIPES}
    covered = {keras_ssl.modalities.for_method(zoo.load_recipe(name)["method"]).name
               for name in END_TO_END}
    assert covered == modalities and "simclr_resnet18_fashion_mnist" in END_TO_END


@pytest.mark.parametrize("name", sorted(set(RECIPES) - set(END_TO_END)))
def test_every_recipe_config_builds(name, tmp_path):
    # The recipe's own method, backbone and options, checked as a run
    # starts (settings validated, data loaded, method built, batch size
    # checked against the method: a queue the batch does not divide): a
    # misspelt option or an incompatible setting fails here, not 20 minutes
    # into a run. Training itself runs end to end for one recipe of each
    # evaluation path (END_TO_END) and in the methods' own tests.
    config = zoo.load_recipe(name)
    batch_size = int(config.get("batch_size") or 32)
    keys = {key: config[key] for key in zoo.PRETRAIN_KEYS if key in config}
    keys.update(limit=2 * batch_size)
    run = training.pretrain(str(tmp_path / "run"), verbose=0, check_only=True, **keys,
                            **config.get("options", {}))
    assert run["summary"] is None and not (tmp_path / "run").exists()
    assert run["config"]["method"] == config["method"]
    assert run["data"]["num_train"] >= batch_size
    model_config = run["model"].get_config()
    for key, value in config.get("method_kwargs", {}).items():
        # Settings consumed before the method is built (BEiT's tokenizer
        # options; a distillation teacher named by its preset, held as the
        # model itself) are not in its config as written.
        if key in model_config and not isinstance(value, dict) \
                and not isinstance(model_config[key], dict):
            assert model_config[key] == value, key


def test_check_only_refuses_a_batch_the_method_cannot_take(tmp_path):
    with pytest.raises(ValueError, match="queue_size"):
        training.pretrain(str(tmp_path / "run"), method="moco", backbone="convnet", limit=64,
                          batch_size=48, check_only=True, method_kwargs={"queue_size": 100})
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", END_TO_END)
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
    config = zoo.load_recipe(name)
    if config.get("init_preset"):  # the starting point and the twin are on the card
        assert results["init_preset"]["preset"] == config["init_preset"]
        assert 0.0 <= results["init_preset"]["linear_probe@1%"] <= 1.0
        assert results["scratch"]["recipe"] == config["scratch_recipe"]
        assert f"`{config['init_preset']}` as it was" in table
    # The trained encoder is written as a preset that loads and verifies;
    # the published zoo folder is left alone by a short run.
    preset = tmp_path / "preset"
    assert results["preset"]["files"] == keras_ssl.presets.read_manifest(str(preset))["files"]
    keras_ssl.presets.verify(str(preset))
    # Probes at intermediate layers are recorded with the results and the
    # preset (the default layers of `keras-ssl probe --preset`).
    layers = zoo.load_recipe(name).get("evaluation", {}).get("feature_layers")
    assert results.get("feature_layers") == layers
    assert keras_ssl.presets.read_manifest(str(preset)).get("feature_layers") == layers
    encoder = keras_ssl.backbones.Backbone.from_preset(str(preset))
    assert encoder.count_params() == results["preset"]["parameters"]
    assert results["preset"]["path"] == str(preset)
    # TensorBoard's Embedding Projector files sit in the run's logs.
    logs = tmp_path / "run" / "logs"
    assert (logs / "projector_config.pbtxt").exists() and (logs / "metadata.tsv").exists()


def _fake_zoo(tmp_path, entries):
    """A zoo folder whose recipes have the given (method, probe@1%) results."""
    template = training.read_json(
        os.path.join(zoo.default_zoo_dir(), "simclr_resnet18_fashion_mnist", "results.json"))
    for method, probe in entries:
        name = f"{method}_fake"
        os.makedirs(tmp_path / name)
        config = dict(zoo.load_recipe("simclr_resnet18_fashion_mnist"), name=name, method=method)
        training.write_json(str(tmp_path / name / "config.json"), config)
        results = dict(template, recipe=name, method=method,
                       pretrained=dict(template["pretrained"], **{"linear_probe@1%": probe}))
        training.write_json(str(tmp_path / name / "results.json"), results)


def test_joint_embedding_table_compares_only_joint_embedding_recipes(tmp_path):
    _fake_zoo(tmp_path, [("simclr", 0.81), ("byol", 0.83), ("rotation", 0.9)])
    table = zoo.joint_embedding_table(str(tmp_path))
    rows = [line for line in table.splitlines() if line.startswith("| [")]
    # Rotation prediction is not a joint-embedding method; the rest are
    # sorted by the 1%-label probe, best first.
    assert [row.split("|")[2].strip() for row in rows] == ["byol", "simclr"]
    assert "| 0.8300 |" in rows[0] and "| 0.8100 |" in rows[1]
    assert "random-init encoder 0.6862" in table
    assert table in zoo.readme_table(str(tmp_path))
    fig = zoo.plot_joint_embedding(str(tmp_path), path=str(tmp_path / "bars.png"))
    labels = [label.get_text() for label in fig.axes[0].get_xticklabels()]
    assert labels == ["byol", "simclr"]
    texts = [text.get_text() for text in fig.axes[0].texts]
    assert " raw pixels 0.780" in texts and " random init 0.686" in texts
    assert (tmp_path / "bars.png").stat().st_size > 2000


def test_joint_embedding_table_needs_two_recipes(tmp_path):
    _fake_zoo(tmp_path, [("simclr", 0.81), ("rotation", 0.9)])
    assert zoo.joint_embedding_table(str(tmp_path)) == ""
    assert zoo.plot_joint_embedding(str(tmp_path)) is None


def test_epochs_run_counts_a_budget_stopped_epoch_by_its_steps():
    pre = {"steps": 853, "num_train": 60000, "stopped_by_budget": True, "epochs_completed": 2}
    # Keras records the epoch the budget stopped in; 853 of 2 x 468 steps ran.
    assert zoo.epochs_run(pre, 128) == "1.82"
    assert zoo.epochs_run(dict(pre, steps=936), 128) == "2"
    assert zoo.epochs_run(dict(pre, stopped_by_budget=False), 128) == "2"
    assert zoo.epochs_run(pre, None) == "2"


def test_text_pretext_table_puts_each_tasks_recipes_side_by_side(tmp_path):
    template = training.read_json(
        os.path.join(zoo.default_zoo_dir(), "bert_tiny_mlm_sms_spam", "results.json"))
    config = zoo.load_recipe("bert_tiny_mlm_sms_spam")
    entries = [("mlm", "sms_spam", "sms_spam", 0.90, 0.85), ("sop", "sms_spam", "sms_spam",
                                                            0.95, 0.85),
               ("mlm", "sms_spam", None, 0.80, 0.85), ("sop", "fortunes", "fortunes", 0.2, 0.1)]
    for i, (method, task, dataset, f1, random_f1) in enumerate(entries):
        name = f"text{i}"
        os.makedirs(tmp_path / name)
        training.write_json(str(tmp_path / name / "config.json"),
                            dict(config, name=name, method=method, dataset=dataset))
        results = dict(template, recipe=name, method=method, task=task, dataset=dataset,
                       pretrained=dict(template["pretrained"], **{"macro_f1@1%": f1}),
                       random_init=dict(template["random_init"], **{"macro_f1@1%": random_f1}))
        training.write_json(str(tmp_path / name / "results.json"), results)
    table = zoo.text_pretext_table(str(tmp_path))
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| sms_spam")]
    # A task with one recipe (fortunes here) has nothing to compare.
    assert "| fortunes" not in table
    assert [row[3].strip() for row in rows] == ["MLM + SOP (BERT)", "MLM (BERT)", "MLM (BERT)"]
    assert [row[4].strip() for row in rows] == ["the task's texts", "the task's texts",
                                               "Shakespeare"]
    assert [row[7].strip() for row in rows] == ["+10.0", "+5.0", "-5.0"]
    assert table in zoo.readme_table(str(tmp_path))
    fig = zoo.plot_text_pretext(str(tmp_path), path=str(tmp_path / "text.png"))
    labels = [label.get_text() for label in fig.axes[0].get_xticklabels()]
    assert labels == ["MLM + SOP", "MLM", "MLM (Shakespeare)"]
    assert "+10.0" in [t.get_text() for t in fig.axes[0].texts]
    assert (tmp_path / "text.png").stat().st_size > 2000


@pytest.mark.parametrize("name", RECIPES)
def test_card_robustness_tables_come_from_robustness_json(name):
    # A recipe measured with `keras-ssl robust` shows that command's table,
    # written from its robustness.json, and the command itself.
    import json

    from keras_ssl.evaluation import robustness_table

    recipe_dir = os.path.join(zoo.default_zoo_dir(), name)
    path = os.path.join(recipe_dir, "robustness", "robustness.json")
    if not os.path.exists(path):
        pytest.skip(f"{name} has no robustness measurement")
    with open(path) as f:
        report = json.load(f)
    card = open(os.path.join(recipe_dir, "README.md")).read()
    assert robustness_table(report) in card
    assert f"Reproduce: `{report['command']}`" in card
    assert os.path.exists(os.path.join(recipe_dir, "robustness", "robustness.png"))
