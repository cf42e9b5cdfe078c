import os
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from keras_ssl import datasets
from keras_ssl.datasets import image_text

HAS_EMOJI = os.path.isfile(image_text.FONT_PATH) and os.path.isdir(image_text.CLDR_DIR)
needs_emoji = pytest.mark.skipif(
    not HAS_EMOJI, reason=f"not installed: {image_text.EMOJI_INSTALL}")
CJK = re.compile(r"[\u4e00-\u9fff]")


def patch_renderer(monkeypatch, replacement):
    """Replace the renderer in the module `datasets.load_image_text` runs in
    (pytest's doctest collection may import a second copy of the module)."""
    monkeypatch.setitem(datasets.load_image_text.__globals__, "_render_all", replacement)


@pytest.fixture(scope="module")
def emoji_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("emoji_cache")


@pytest.fixture(scope="module")
def english(emoji_cache):
    """The emoji set in English at 32x32, rendered once into a tmp cache."""
    return datasets.load_image_text("emoji", language="en", image_size=32, cache_dir=emoji_cache,
                                    verbose=False)


@pytest.fixture(scope="module")
def chinese(english, emoji_cache):
    # The renders do not depend on the language: this reads English's cache.
    return datasets.load_image_text("emoji", language="zh", image_size=32, cache_dir=emoji_cache,
                                    verbose=False)


@needs_emoji
def test_emoji_arrays(english):
    n = len(english)
    assert 1500 < n < 5000
    assert english.images.shape == (n, 32, 32, 3) and english.images.dtype == np.uint8
    for values in (english.captions, english.emoji, english.names):
        assert values.shape == (n,) and values.dtype.kind == "U"
    assert english.groups.dtype == english.subgroups.dtype == np.int64
    assert len(english.group_names) == 8 and "Flags" in english.group_names
    assert "Component" not in english.group_names and "skin-tone" not in english.subgroup_names
    assert english.groups.max() < len(english.group_names)
    assert english.subgroups.max() < len(english.subgroup_names)
    assert all(name in caption for caption, name in zip(english.captions, english.names))
    assert all(len(name) > 0 for name in english.names)
    emoji = list(english.emoji)
    i = emoji.index("😀")
    assert english.captions[i] == "grinning face: face, grin"
    assert english.subgroup_names[english.subgroups[i]] == "face-positive"
    # ZWJ sequences and flags that the font shapes into one glyph are kept.
    assert "👨\u200d⚕\ufe0f" in emoji and "🇯🇵" in emoji
    assert english.captions[emoji.index("🇯🇵")] == "flag: Japan"


@needs_emoji
def test_emoji_images(english):
    images = english.images
    assert len({image.tobytes() for image in images}) > 0.95 * len(images)
    # Centred on white: the corners are white, the centre is not (in general).
    assert (images[:, 0, 0] == 255).all()
    assert (images[:, 16, 16].min(-1) < 250).mean() > 0.8
    heart = images[list(english.emoji).index("❤")].astype(int)
    ink = heart.min(-1) < 240
    red = (heart[..., 0] > 150) & (heart[..., 1] < 100) & (heart[..., 2] < 100)
    assert ink.mean() > 0.3 and (red & ink).sum() / ink.sum() > 0.7


@needs_emoji
def test_emoji_dataset_and_subset(english):
    (image, caption), = english.dataset.take(1).as_numpy_iterator()
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert caption.decode() == english.captions[0]
    np.testing.assert_array_equal(image, english.images[0])
    picked = english.subset([3, 1])
    assert len(picked) == 2 and list(picked.emoji) == [english.emoji[3], english.emoji[1]]
    mask = english.groups == english.group_names.index("Flags")
    flags = english.subset(mask)
    assert len(flags) == mask.sum() and flags.subgroup_names == english.subgroup_names
    with pytest.raises(ValueError, match="boolean mask must have shape"):
        english.subset(mask[:-1])


@needs_emoji
def test_emoji_split_holds_out_whole_subgroups(english, chinese):
    train, test = english.split()
    assert len(train) + len(test) == len(english) and 0.1 < len(test) / len(english) < 0.4
    assert not set(train.subgroups) & set(test.subgroups)
    assert set(test.subgroups) == set(english.heldout_subgroups)
    # About 20% of the subgroups, at least one per group of >= 3, and every
    # group keeps training subgroups.
    assert 0.15 < len(english.heldout_subgroups) / len(english.subgroup_names) < 0.25
    for g in range(len(english.group_names)):
        subgroups = set(english.subgroups[english.groups == g])
        assert subgroups & set(train.subgroups)
        if len(subgroups) >= 3:
            assert subgroups & set(test.subgroups)
    # Deterministic, and the same in every language.
    again_train, again_test = english.split()
    np.testing.assert_array_equal(again_test.emoji, test.emoji)
    _, test_zh = chinese.split()
    np.testing.assert_array_equal(test_zh.emoji, test.emoji)
    with pytest.raises(ValueError, match="fixed"):
        english.split(seed=1)


@needs_emoji
def test_chinese_captions_and_prompts(english, chinese):
    assert chinese.language == "zh"
    np.testing.assert_array_equal(chinese.emoji, english.emoji)
    np.testing.assert_array_equal(chinese.images, english.images)
    assert np.mean([bool(CJK.search(c)) for c in chinese.captions]) > 0.95
    assert all(name in caption for caption, name in zip(chinese.captions, chinese.names))
    assert chinese.captions[list(chinese.emoji).index("😀")] == "嘿嘿：笑脸、脸"
    prompts = chinese.subgroup_prompts()
    assert len(prompts) == len(chinese.subgroup_names) and all(CJK.search(p) for p in prompts)
    assert all(CJK.search(p) for p in chinese.group_prompts())
    english_prompts = dict(zip(english.subgroup_names, english.subgroup_prompts()))
    assert english_prompts["face-positive"] == "positive face"
    assert english_prompts["animal-mammal"] == "mammal"
    assert english_prompts["sky & weather"] == "sky and weather"
    assert english.group_prompts()[english.group_names.index("Food & Drink")] == "food and drink"


@needs_emoji
def test_emoji_cache_hit_does_not_render(english, emoji_cache, monkeypatch, capsys):
    assert [f for f in os.listdir(emoji_cache) if f.endswith(".npz")]

    def fail(*args, **kwargs):
        raise AssertionError("rendered again despite the cache")

    patch_renderer(monkeypatch, fail)
    again = datasets.load_image_text("emoji", image_size=32, cache_dir=emoji_cache)
    assert capsys.readouterr().out == ""
    np.testing.assert_array_equal(again.images, english.images)
    np.testing.assert_array_equal(again.captions, english.captions)


@needs_emoji
def test_emoji_cache_follows_the_font_file(tmp_path, monkeypatch):
    """A changed font (size or modification time) renders again; stale files go."""
    calls = []

    def fake_render(emoji, font_path, image_size, verbose):
        calls.append(len(emoji))
        return np.zeros((len(emoji), image_size, image_size, 3), "uint8"), list(emoji)

    patch_renderer(monkeypatch, fake_render)
    font = tmp_path / "font.ttf"
    shutil.copyfile(image_text.FONT_PATH, font)
    cache = tmp_path / "cache"
    for _ in range(2):
        datasets.load_image_text("emoji", image_size=8, cache_dir=cache, font_path=font)
    assert len(calls) == 1
    os.utime(font, ns=(0, 10**18))
    datasets.load_image_text("emoji", image_size=8, cache_dir=cache, font_path=font)
    assert len(calls) == 2 and len(os.listdir(cache)) == 1


def test_emoji_errors(tmp_path):
    fix = "apt-get install fonts-noto-color-emoji unicode-cldr-core"
    with pytest.raises(FileNotFoundError, match=f"nofont.ttf.*{fix}"):
        datasets.load_image_text("emoji", font_path=str(tmp_path / "nofont.ttf"))
    font = tmp_path / "font.ttf"
    font.write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=f"nocldr.*{fix}"):
        datasets.load_image_text("emoji", font_path=font, cldr_dir=str(tmp_path / "nocldr"))
    with pytest.raises(ValueError, match="Unknown image-text data set 'emojis'.*'emoji'.*CSV"):
        datasets.load_image_text("emojis")
    with pytest.raises(FileNotFoundError, match="No such CSV"):
        datasets.load_image_text(str(tmp_path / "none.csv"))


@needs_emoji
def test_emoji_unknown_language():
    with pytest.raises(ValueError, match="Unknown language 'xx'.*Available.*en, .*zh"):
        datasets.load_image_text("emoji", language="xx")
    assert {"en", "zh", "fr"} <= set(datasets.emoji_languages())


def test_unicode_set_parser():
    assert image_text.parse_unicode_set(r"[a-c x{👨‍⚕️}\u003B\-]") == [
        "a", "b", "c", "x", "👨\u200d⚕\ufe0f", ";", "-"]


@pytest.fixture
def photos(tmp_path):
    """Four small images (RGB, gray, RGBA; sizes differ) and their colors."""
    colors = {"red.png": (255, 0, 0), "green.png": (0, 255, 0), "sub/blue.png": (0, 0, 255)}
    (tmp_path / "sub").mkdir()
    for name, color in colors.items():
        Image.fromarray(np.full((20, 30, 3), color, "uint8")).save(tmp_path / name)
    Image.fromarray(np.full((12, 12), 128, "uint8")).save(tmp_path / "gray.png")
    return tmp_path


def test_csv_pairs_end_to_end(photos):
    table = photos / "captions.csv"
    table.write_text(
        "image,caption\n"
        "red.png,a red square\n"
        'green.png,"green, and square"\n'
        f"{photos / 'sub' / 'blue.png'},blue\n"  # an absolute path
        "gray.png,  gray   square \n", encoding="utf-8")
    pairs = datasets.load_image_text(str(table), image_size=16)
    assert pairs.images.shape == (4, 16, 16, 3) and pairs.images.dtype == np.uint8
    assert list(pairs.captions) == ["a red square", "green, and square", "blue", "gray square"]
    np.testing.assert_array_equal(pairs.images[0, 8, 8], [255, 0, 0])
    np.testing.assert_array_equal(pairs.images[2, 8, 8], [0, 0, 255])
    np.testing.assert_array_equal(pairs.images[3, 8, 8], [128, 128, 128])
    assert pairs.groups is None and pairs.emoji is None and len(pairs.files) == 4
    # A folder holding captions.csv works the same; the split is random, seeded.
    folder = datasets.load_image_text(photos, image_size=(8, 12))
    assert folder.images.shape == (4, 8, 12, 3)
    train, test = folder.split()
    assert (len(train), len(test)) == (3, 1)
    assert list(folder.split()[1].captions) == list(test.captions)
    assert sorted(list(train.captions) + list(test.captions)) == sorted(folder.captions)
    (_, caption), = folder.subset([1]).dataset.as_numpy_iterator()
    assert caption.decode() == "green, and square"
    with pytest.raises(ValueError, match="no subgroups"):
        folder.subgroup_prompts()


def test_csv_errors(photos):
    table = photos / "captions.csv"
    rows = [f"missing{i}.png,caption {i}" for i in range(7)]
    table.write_text("red.png,red\n" + "\n".join(rows) + "\n")
    with pytest.raises(FileNotFoundError, match=r"7 image file\(s\) named in .*captions.csv.* "
                                                r"missing0.png \(row 2\).*missing4.png "
                                                r"\(row 6\) and 2 more"):
        datasets.load_image_text(str(table))
    table.write_text("image,caption\nred.png,red\ngreen.png,  \n")
    with pytest.raises(ValueError, match=r"1 empty caption\(s\) in .*captions.csv.*row\(s\) 3"):
        datasets.load_image_text(str(table))
    table.write_text("red.png,red\ngreen.png,green, unquoted\n")
    with pytest.raises(ValueError, match=r"Row 2 of .*captions.csv.* has 3 column\(s\).*quote"):
        datasets.load_image_text(str(table))
    table.write_text("image,caption\n")
    with pytest.raises(ValueError, match="captions CSV .*captions.csv.* is empty"):
        datasets.load_image_text(str(table))
    os.remove(table)
    with pytest.raises(FileNotFoundError, match="has no captions.csv"):
        datasets.load_image_text(str(photos))
