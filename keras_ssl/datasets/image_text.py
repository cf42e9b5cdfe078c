"""Image-caption pairs for contrastive image-text pretraining (CLIP).

Two sources, one loader (`load_image_text`):

* `"emoji"`: every emoji of the Noto Color Emoji font, rendered centred on
  a white square, captioned from the Unicode CLDR annotations (a short
  name and keywords, in any CLDR language). Both come from Debian
  packages, so nothing is downloaded:
  `apt-get install fonts-noto-color-emoji unicode-cldr-core`.
  Each emoji carries the group and subgroup of CLDR's `labels.txt`
  ("Animals & Nature" / "animal-mammal"), which give a zero-shot task:
  `split()` holds out whole subgroups, and `subgroup_prompts()` names them
  in the captions' language (English and Chinese).
* your own data: a CSV of `image,caption` rows (or a folder holding a
  `captions.csv`), with image paths relative to the CSV's folder.

Rendering a few thousand glyphs takes a while, so the emoji images are
cached once per image size (and font and CLDR version) as an `.npz` in the
Keras cache (`~/.keras/datasets/image_text`). The images do not depend on
the language: English and Chinese share one cache file.
"""

import csv
import hashlib
import json
import math
import os
import re
import tempfile
import time
import warnings
import xml.etree.ElementTree as ElementTree

import numpy as np

#: names of the built-in data sets (any other name must be a CSV path)
IMAGE_TEXT_DATASETS = ("emoji",)
#: where Debian installs the font and the CLDR data
FONT_PATH = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
CLDR_DIR = "/usr/share/unicode/cldr/common"
EMOJI_INSTALL = "apt-get install fonts-noto-color-emoji unicode-cldr-core"
#: Noto Color Emoji is a bitmap (CBDT) font with one strike: 109 pixels
RENDER_SIZE = 109
#: white space around the glyph, as a fraction of its larger side
MARGIN = 0.06
#: the file a folder given to `load_image_text` must hold
CAPTIONS_FILE = "captions.csv"
#: the Fitzpatrick skin-tone modifiers U+1F3FB..U+1F3FF
SKIN_TONES = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))
_DROPPED_GROUPS = ("Component",)
_DROPPED_SUBGROUPS = ("skin-tone", "hair-style")
# Bumped when the rendering changes, so old cache files are not reused.
_CACHE_FORMAT = 1
_HELD_OUT_FRACTION = 0.2

# Prompts naming each group and subgroup of CLDR's labels.txt: English (the
# identifier made readable) and Chinese (hand-written). Identifiers missing
# here (a newer CLDR) fall back to `_readable_identifier` in English.
_SUBGROUP_PROMPTS = {
    "face-positive": ("positive face", "开心的表情"),
    "face-neutral": ("neutral face", "平静的表情"),
    "face-negative": ("negative face", "消极的表情"),
    "face-sick": ("sick face", "生病的表情"),
    "face-role": ("face playing a role", "角色表情"),
    "face-fantasy": ("fantasy face", "奇幻表情"),
    "cat-face": ("cat face", "猫脸"),
    "monkey-face": ("monkey face", "猴脸"),
    "skin-tone": ("skin tone", "肤色"),
    "person": ("person", "人"),
    "person-role": ("person in a role", "角色人物"),
    "person-fantasy": ("fantasy person", "奇幻人物"),
    "person-gesture": ("person gesturing", "做手势的人"),
    "person-activity": ("person doing an activity", "做活动的人"),
    "person-sport": ("person playing sport", "做运动的人"),
    "family": ("family", "家庭"),
    "body": ("body part", "身体部位"),
    "emotion": ("emotion", "情感"),
    "clothing": ("clothing", "服饰"),
    "animal-mammal": ("mammal", "哺乳动物"),
    "animal-bird": ("bird", "鸟"),
    "animal-amphibian": ("amphibian", "两栖动物"),
    "animal-reptile": ("reptile", "爬行动物"),
    "animal-marine": ("marine animal", "海洋动物"),
    "animal-bug": ("bug", "虫子"),
    "plant-flower": ("flower", "花"),
    "plant-other": ("plant", "植物"),
    "food-fruit": ("fruit", "水果"),
    "food-vegetable": ("vegetable", "蔬菜"),
    "food-prepared": ("prepared food", "熟食"),
    "food-asian": ("Asian food", "亚洲食物"),
    "food-sweet": ("sweet food", "甜食"),
    "drink": ("drink", "饮料"),
    "dishware": ("dishware", "餐具"),
    "place-map": ("map", "地图"),
    "place-geographic": ("geographic place", "地理景观"),
    "place-building": ("building", "建筑"),
    "place-religious": ("religious place", "宗教场所"),
    "place-other": ("other place", "其他地点"),
    "transport-ground": ("ground transport", "陆路交通"),
    "transport-water": ("water transport", "水上交通"),
    "transport-air": ("air transport", "空中交通"),
    "hotel": ("hotel", "酒店"),
    "time": ("time", "时间"),
    "sky & weather": ("sky and weather", "天空和天气"),
    "event": ("event", "节庆活动"),
    "award-medal": ("award medal", "奖牌"),
    "sport": ("sport", "体育运动"),
    "game": ("game", "游戏"),
    "arts & crafts": ("arts and crafts", "艺术和手工"),
    "sound": ("sound", "声音"),
    "music": ("music", "音乐"),
    "musical-instrument": ("musical instrument", "乐器"),
    "phone": ("phone", "电话"),
    "computer": ("computer", "电脑"),
    "light & video": ("light and video", "灯光和影像"),
    "book-paper": ("book and paper", "书和纸"),
    "money": ("money", "钱"),
    "mail": ("mail", "邮件"),
    "writing": ("writing", "书写"),
    "office": ("office supplies", "办公用品"),
    "lock": ("lock", "锁"),
    "tool": ("tool", "工具"),
    "science": ("science", "科学"),
    "medical": ("medical", "医疗"),
    "household": ("household object", "家居用品"),
    "other-object": ("other object", "其他物品"),
    "transport-sign": ("transport sign", "交通标志"),
    "warning": ("warning", "警告"),
    "arrow": ("arrow", "箭头"),
    "religion": ("religion", "宗教"),
    "zodiac": ("zodiac", "星座"),
    "av-symbol": ("audio and video symbol", "影音符号"),
    "other-symbol": ("other symbol", "其他符号"),
    "keycap": ("keycap", "按键"),
    "alphanum": ("letters and numbers", "字母和数字"),
    "geometric": ("geometric shape", "几何图形"),
    "flag": ("flag", "旗帜"),
    "country-flag": ("country flag", "国旗"),
    "subdivision-flag": ("subdivision flag", "地区旗帜"),
}
_GROUP_PROMPTS = {
    "Smileys & People": ("smileys and people", "笑脸和人物"),
    "Smileys & Emotion": ("smileys and emotion", "笑脸和情感"),
    "People & Body": ("people and body", "人物和身体"),
    "Animals & Nature": ("animals and nature", "动物和自然"),
    "Food & Drink": ("food and drink", "食物和饮料"),
    "Travel & Places": ("travel and places", "旅行和地点"),
    "Activities": ("activities", "活动"),
    "Objects": ("objects", "物品"),
    "Symbols": ("symbols", "符号"),
    "Flags": ("flags", "旗帜"),
}
_PROMPT_LANGUAGES = ("en", "zh")


def _readable_identifier(identifier):
    """An English phrase for a label identifier: "&" becomes "and" and a
    hyphenated "kind-detail" is read "detail kind" ("face-positive" ->
    "positive face")."""
    words = identifier.replace("&", "and").split("-")
    return " ".join(reversed(words)) if len(words) == 2 else " ".join(words)


def _prompts(names, table, language):
    if language not in _PROMPT_LANGUAGES:
        raise ValueError(
            f"Prompts are written for the languages {', '.join(_PROMPT_LANGUAGES)}, not "
            f"{language!r}; use `subgroup_names` / `group_names` (English identifiers) instead."
        )
    column = _PROMPT_LANGUAGES.index(language)
    return [table[name][column] if name in table else _readable_identifier(name) for name in names]


class ImageTextPairs:
    """Images with one caption each, as numpy arrays (see `load_image_text`).

    Attributes:
        images: uint8 (N, H, W, 3).
        captions: (N,) numpy str (convert with `tf.constant(captions)` or
            `captions.astype(object)` where Keras takes text).
        emoji, names: (N,) numpy str, the emoji and their CLDR short names
            (None for a CSV).
        groups, subgroups: (N,) int64 ids into `group_names` /
            `subgroup_names` (None for a CSV).
        heldout_subgroups: the subgroup ids `split()` holds out.
        files: the image paths of a CSV (None for emoji).
        language: the captions' language.
    """

    def __init__(self, images, captions, emoji=None, names=None, groups=None, subgroups=None,
                 group_names=None, subgroup_names=None, heldout_subgroups=None, files=None,
                 language="en", source=None):
        self.images = images
        self.captions = captions
        self.emoji = emoji
        self.names = names
        self.groups = groups
        self.subgroups = subgroups
        self.group_names = group_names
        self.subgroup_names = subgroup_names
        self.heldout_subgroups = heldout_subgroups
        self.files = files
        self.language = language
        self.source = source
        for key in ("captions", "emoji", "names", "groups", "subgroups", "files"):
            value = getattr(self, key)
            if value is not None and len(value) != len(images):
                raise ValueError(f"`{key}` has {len(value)} items but there are "
                                 f"{len(images)} images.")

    def __len__(self):
        return len(self.images)

    def __repr__(self):
        kind = "emoji" if self.emoji is not None else self.source
        return (f"<ImageTextPairs {kind!r} language={self.language!r}: {len(self)} images of "
                f"shape {tuple(self.images.shape[1:])}>")

    @property
    def dataset(self):
        """A `tf.data.Dataset` of `(image uint8 (H, W, 3), caption tf.string)`,
        unbatched, in order."""
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices(
            (self.images, tf.constant(self.captions, dtype=tf.string)))

    def subset(self, mask_or_indices):
        """The pairs selected by a boolean mask (N,) or by integer indices."""
        selection = np.asarray(mask_or_indices)
        if selection.dtype == bool:
            if selection.shape != (len(self),):
                raise ValueError(f"A boolean mask must have shape ({len(self)},), got "
                                 f"{selection.shape}.")
        elif selection.size == 0:
            selection = selection.astype("int64")
        elif not np.issubdtype(selection.dtype, np.integer) or selection.ndim != 1:
            raise ValueError("`mask_or_indices` must be a boolean mask or a 1-D array of integer "
                             f"indices, got dtype {selection.dtype} and shape {selection.shape}.")
        elif selection.min() < -len(self) or selection.max() >= len(self):
            raise IndexError(f"Indices must lie in [0, {len(self)}), got "
                             f"{selection.min()}..{selection.max()}.")

        def take(value):
            return None if value is None else value[selection]

        return ImageTextPairs(
            self.images[selection], self.captions[selection], take(self.emoji), take(self.names),
            take(self.groups), take(self.subgroups), self.group_names, self.subgroup_names,
            self.heldout_subgroups, take(self.files), self.language, self.source)

    def split(self, test_fraction=None, seed=None):
        """`(train, test)` pairs.

        With groups (emoji), the split is fixed: the test pairs are those of
        the held-out subgroups (`heldout_subgroups`: about 20% of them,
        whole subgroups, the same for every language and image size), so a
        model is tested on kinds of images it never trained on; the
        arguments must then stay None. Without groups (a CSV), the pairs
        are split at random: `test_fraction` (default 0.2) of them, drawn
        with `seed` (default 0, so the same split every call).
        """
        if self.subgroups is not None:
            if test_fraction is not None or seed is not None:
                raise ValueError(
                    "The split of pairs with subgroups is fixed (whole subgroups are held out); "
                    "`test_fraction` and `seed` apply to pairs without groups (a CSV)."
                )
            test = np.isin(self.subgroups, self.heldout_subgroups)
            return self.subset(~test), self.subset(test)
        test_fraction = 0.2 if test_fraction is None else test_fraction
        if not 0 < test_fraction < 1:
            raise ValueError(f"`test_fraction` must lie in (0, 1), got {test_fraction!r}.")
        if len(self) < 2:
            raise ValueError(f"Cannot split {len(self)} pair(s) into a training and a test part.")
        order = np.random.default_rng(0 if seed is None else seed).permutation(len(self))
        count = min(max(1, round(test_fraction * len(self))), len(self) - 1)
        test = np.zeros(len(self), bool)
        test[order[:count]] = True
        return self.subset(~test), self.subset(test)

    def subgroup_prompts(self):
        """A class name to prompt with for each subgroup id, in the pairs'
        language ("en" or "zh"), e.g. "positive face" / "开心的表情"."""
        if self.subgroup_names is None:
            raise ValueError("These pairs have no subgroups (they come from a CSV).")
        return _prompts(self.subgroup_names, _SUBGROUP_PROMPTS, self.language)

    def group_prompts(self):
        """A class name to prompt with for each group id, in the pairs'
        language ("en" or "zh"), e.g. "animals and nature" / "动物和自然"."""
        if self.group_names is None:
            raise ValueError("These pairs have no groups (they come from a CSV).")
        return _prompts(self.group_names, _GROUP_PROMPTS, self.language)


# === CLDR files ===


def _check_emoji_sources(font_path, cldr_dir):
    if not os.path.isfile(font_path):
        raise FileNotFoundError(
            f"The emoji font {font_path!r} does not exist. Install it with `{EMOJI_INSTALL}` "
            "(Debian/Ubuntu) or pass `font_path=`."
        )
    for needed in (os.path.join("properties", "labels.txt"), "annotations"):
        if not os.path.exists(os.path.join(cldr_dir, needed)):
            raise FileNotFoundError(
                f"The Unicode CLDR folder {cldr_dir!r} does not exist or has no {needed}. "
                f"Install it with `{EMOJI_INSTALL}` (Debian/Ubuntu) or pass `cldr_dir=` (the "
                "CLDR `common` folder)."
            )


def emoji_languages(cldr_dir=CLDR_DIR):
    """The languages `load_image_text("emoji", language=...)` accepts: the
    CLDR annotation files present ("en", "zh", "zh_Hant", "fr", ...)."""
    folder = os.path.join(cldr_dir, "annotations")
    if not os.path.isdir(folder):
        return []
    return sorted(name[:-4] for name in os.listdir(folder)
                  if name.endswith(".xml") and name != "root.xml")


def _unescape(text):
    return re.sub(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})|\\x\{([0-9A-Fa-f]+)\}",
                  lambda m: chr(int(next(g for g in m.groups() if g), 16)), text)


_SET_TOKEN = re.compile(r"\{[^}]*\}|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}|\\x\{[0-9A-Fa-f]+\}"
                        r"|\\.|\s+|.", re.DOTALL)


def parse_unicode_set(text):
    """The strings of a UnicodeSet such as `[a-c{👨‍⚕️}\\u003B]`, in order:
    single characters, ranges `a-b` of single code points, and strings in
    `{...}` (multi-codepoint emoji); escapes `\\uXXXX`, `\\UXXXXXXXX`,
    `\\x{...}`. Set operations and properties are not supported."""
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise ValueError(f"Not a UnicodeSet (expected [...]): {text!r}.")
    tokens = []
    for token in _SET_TOKEN.findall(text[1:-1]):
        if token.isspace():
            continue
        if token.startswith("{"):
            tokens.append(("string", _unescape(token[1:-1])))
        elif token == "-" and tokens and tokens[-1][0] == "char":
            tokens.append(("range", None))
        elif token.startswith("\\"):
            tokens.append(("char", _unescape(token) if token[1] in "uUx" else token[1]))
        else:
            tokens.append(("char", token))
    out, i = [], 0
    while i < len(tokens):
        kind, value = tokens[i]
        if i + 2 < len(tokens) and tokens[i + 1][0] == "range" and tokens[i + 2][0] == "char":
            out.extend(chr(c) for c in range(ord(value), ord(tokens[i + 2][1]) + 1))
            i += 3
        else:
            out.append(value if kind != "range" else "-")
            i += 1
    return out


def read_labels(path):
    """CLDR `labels.txt`: `[(emoji, group, subgroup), ...]` in file order.

    Lines are `set ; group ; subgroup` (UnicodeSet syntax, or a hex code
    point or range `XXXX..YYYY`); an emoji listed twice keeps its first
    labels.
    """
    seen, out = set(), []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = [f.strip() for f in line.split(";")]
            if len(fields) < 3:
                continue  # a character with a group only: no subgroup to label it by
            first, group, subgroup = fields[0], _unescape(fields[1]), _unescape(fields[2])
            try:
                if first.startswith("["):
                    items = parse_unicode_set(first)
                else:
                    low, _, high = first.partition("..")
                    items = [chr(c) for c in range(int(low, 16), int(high or low, 16) + 1)]
            except ValueError as error:
                raise ValueError(f"{path}, line {number}: cannot read {first!r}: {error}") from None
            for item in items:
                if item not in seen:
                    seen.add(item)
                    out.append((item, group, subgroup))
    return out


def _parent_locales(cldr_dir):
    """CLDR's explicit parents (zh_Hant -> root, en_AU -> en_001, ...)."""
    path = os.path.join(cldr_dir, "supplemental", "supplementalData.xml")
    parents = {}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        for parent, locales in re.findall(
                r'<parentLocale\s+parent="([^"]+)"\s+locales="([^"]+)"', text):
            for locale in locales.split():
                parents[locale] = parent
    return parents


def _locale_chain(language, cldr_dir):
    """`language` and the locales it inherits from, nearest first (root left out)."""
    parents = _parent_locales(cldr_dir) if "_" in language else {}
    chain = [language]
    while True:
        current = chain[-1]
        parent = parents.get(current) or (current.rsplit("_", 1)[0] if "_" in current else "root")
        if parent == "root" or parent in chain:
            return chain
        chain.append(parent)


def read_annotations(cldr_dir, language):
    """`{emoji: (short name, [keywords])}` for one language, from CLDR's
    `annotations/` and `annotationsDerived/` (skin tones, sequences,
    flags), with locale inheritance (en_AU falls back to en_001, then en).
    Keys have no U+FE0F, as in CLDR."""
    names, keywords = {}, {}
    for locale in reversed(_locale_chain(language, cldr_dir)):
        for folder in ("annotations", "annotationsDerived"):
            path = os.path.join(cldr_dir, folder, f"{locale}.xml")
            if not os.path.isfile(path):
                continue
            for element in ElementTree.parse(path).getroot().iter("annotation"):
                cp, text = element.get("cp"), (element.text or "").strip()
                if not cp or not text or text == "↑↑↑":
                    continue
                if element.get("type") == "tts":
                    names[cp] = text
                else:
                    keywords[cp] = [k.strip() for k in text.split("|") if k.strip()]
    return {cp: (name, keywords.get(cp, [])) for cp, name in names.items()}


def _caption(name, keywords, language):
    """"grinning face: face, grin": the name, then the keywords other than
    the name or, for a derived name ("flag: Syria", "thumbs up: medium skin
    tone"), its parts."""
    parts = {name, *(part.strip() for part in re.split(r"[:：]", name))}
    others = [k for k in keywords if k not in parts]
    if not others:
        return name
    if language.split("_")[0] in ("zh", "ja", "yue"):
        return f"{name}：{'、'.join(others)}"
    return f"{name}: {', '.join(others)}"


def _heldout(labels):
    """Names of the subgroups `split()` holds out, from labels.txt only (so
    the same for every language, image size and rendering): per group with
    >= 3 subgroups, round(20%) of them (at least one), never the group's
    largest one, chosen by a hash of the subgroup name."""
    sizes, order = {}, {}
    for _, group, subgroup in labels:
        order.setdefault(group, [])
        if subgroup not in order[group]:
            order[group].append(subgroup)
        sizes[subgroup] = sizes.get(subgroup, 0) + 1
    heldout = []
    for subgroups in order.values():
        if len(subgroups) < 3:
            continue
        largest = max(subgroups, key=lambda s: sizes[s])
        candidates = sorted((s for s in subgroups if s != largest),
                            key=lambda s: hashlib.sha256(s.encode()).hexdigest())
        heldout.extend(candidates[:max(1, round(_HELD_OUT_FRACTION * len(subgroups)))])
    return heldout


# === Rendering ===


def _strip_fe0f(text):
    return text.replace("\ufe0f", "")


class _Renderer:
    """Draws emoji with a color bitmap font and brings them to a square image."""

    def __init__(self, font_path, image_size):
        from PIL import ImageFont

        self.font = ImageFont.truetype(font_path, RENDER_SIZE)
        self.image_size = image_size
        self.advance = self.font.getlength("\U0001F600")
        # What the font draws for what it lacks: its .notdef glyph (empty in
        # Noto Color Emoji) and its flag with a question mark for an unknown
        # region.
        self.missing = [g for g in (self.glyph("\U0010FFFD"), self.glyph("\U0001F1E6\U0001F1E6"))
                        if g is not None]

    def glyph(self, text):
        """The RGBA glyph cropped to its visible pixels, or None when empty or
        drawn as several glyphs (a sequence the font does not shape into one)."""
        from PIL import Image, ImageDraw

        if self.font.getlength(text) > 1.5 * self.advance:
            return None
        left, top, right, bottom = self.font.getbbox(text)
        pad = 8
        canvas = Image.new("RGBA", (right - min(left, 0) + 2 * pad,
                                    bottom - min(top, 0) + 2 * pad), (0, 0, 0, 0))
        ImageDraw.Draw(canvas).text((pad - min(left, 0), pad - min(top, 0)), text,
                                    font=self.font, embedded_color=True)
        box = canvas.getbbox()
        return None if box is None else np.asarray(canvas.crop(box))

    def __call__(self, text):
        """uint8 (image_size, image_size, 3), or None if the font cannot draw `text`."""
        from PIL import Image

        glyph = self.glyph(text)
        if glyph is None or any(glyph.shape == m.shape and np.array_equal(glyph, m)
                                for m in self.missing):
            return None
        height, width = glyph.shape[:2]
        side = max(height, width)
        side += 2 * math.ceil(MARGIN * side)
        square = Image.new("RGB", (side, side), (255, 255, 255))
        rgba = Image.fromarray(glyph, "RGBA")
        square.paste(rgba, ((side - width) // 2, (side - height) // 2), rgba)
        square = square.resize((self.image_size, self.image_size), Image.LANCZOS)
        return np.asarray(square, dtype="uint8")


def _render_all(emoji, font_path, image_size, verbose):
    """Rendered images of the emoji that render, and those emoji."""
    renderer = _Renderer(font_path, image_size)
    start = time.time()
    images, kept = [], []
    for i, text in enumerate(emoji):
        image = renderer(text)
        if image is not None:
            images.append(image)
            kept.append(text)
        if verbose and (i + 1) % 500 == 0:
            print(f"  {i + 1}/{len(emoji)} rendered", flush=True)
    if verbose:
        print(f"Rendered {len(kept)} of {len(emoji)} emoji in {time.time() - start:.1f} s "
              f"({len(emoji) - len(kept)} not drawn by the font).", flush=True)
    images = np.stack(images) if images else np.zeros((0, image_size, image_size, 3), "uint8")
    return images, kept


def _cache_folder():
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return os.path.join(keras_home, "datasets", "image_text")


def _cached_renders(emoji, font_path, image_size, cache_dir, verbose, tag="emoji"):
    """`{emoji: image}` of the emoji the font draws, rendered once and kept
    in `cache_dir` under a key made of the emoji list, the font file's size
    and modification time, the image size and the rendering version."""
    stat = os.stat(font_path)
    key = hashlib.sha256(json.dumps(
        [_CACHE_FORMAT, image_size, os.path.abspath(font_path), stat.st_size, stat.st_mtime_ns,
         list(emoji)]).encode()).hexdigest()[:16]
    folder = _cache_folder() if cache_dir is None else os.fspath(cache_dir)
    prefix = f"{tag}_{image_size}px_"
    path = os.path.join(folder, f"{prefix}{key}.npz")
    if os.path.isfile(path):
        try:
            with np.load(path, allow_pickle=False) as data:
                return dict(zip(data["emoji"].tolist(), data["images"]))
        except Exception as error:  # noqa: BLE001 - a truncated or foreign file: render again
            warnings.warn(f"Rendering again: the emoji cache {path} is unreadable ({error}).")
    if verbose:
        print(f"Rendering {len(emoji)} emoji at {image_size}x{image_size} pixels (once; cached "
              f"in {folder}) ...", flush=True)
    images, kept = _render_all(emoji, font_path, image_size, verbose)
    try:
        os.makedirs(folder, exist_ok=True)
        handle, scratch = tempfile.mkstemp(dir=folder, prefix=".emoji-", suffix=".npz")
        with os.fdopen(handle, "wb") as out:
            np.savez_compressed(out, emoji=np.array(kept, dtype=str), images=images)
        os.replace(scratch, path)
        for name in os.listdir(folder):  # older renders of this size (another font or CLDR)
            if name.startswith(prefix) and name.endswith(".npz") and name != os.path.basename(path):
                os.remove(os.path.join(folder, name))
    except OSError as error:
        warnings.warn(f"Could not write the emoji cache in {folder}: {error}.")
    return dict(zip(kept, images))


def _emoji_size(image_size):
    if isinstance(image_size, (tuple, list)) and len(image_size) == 2 \
            and image_size[0] == image_size[1]:
        image_size = image_size[0]
    if not isinstance(image_size, (int, np.integer)) or isinstance(image_size, bool) \
            or image_size < 1:
        raise ValueError(f"`image_size` of the emoji set must be an int >= 1 (square images), "
                         f"got {image_size!r}.")
    return int(image_size)


def _check_emoji_language(language, font_path, cldr_dir):
    _check_emoji_sources(font_path, cldr_dir)
    languages = emoji_languages(cldr_dir)
    if language not in languages:
        raise ValueError(f"Unknown language {language!r} for the emoji set. Available (the CLDR "
                         f"annotation files in {cldr_dir}): {', '.join(languages)}.")


def check_image_text_source(name, language="en", font_path=FONT_PATH, cldr_dir=CLDR_DIR):
    """Raise the error `load_image_text(name, language)` would, without
    loading anything: an unknown data set name, a missing CSV, an emoji
    language without CLDR annotations, or the emoji packages missing."""
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be 'emoji' or the path of a CSV file, got {name!r}.")
    if name in IMAGE_TEXT_DATASETS:  # a folder of that name is passed as "./emoji"
        _check_emoji_language(language, os.fspath(font_path), os.fspath(cldr_dir))
        return "emoji"
    if os.path.exists(name):
        return "csv"
    if name.lower().endswith(".csv") or os.sep in name or "/" in name:
        raise FileNotFoundError(f"No such CSV file or folder: {name!r}.")
    raise ValueError(
        f"Unknown image-text data set {name!r}. Known: "
        + ", ".join(repr(n) for n in IMAGE_TEXT_DATASETS)
        + "; or pass the path of a CSV file of `image,caption` rows (or of a folder holding "
        f"{CAPTIONS_FILE})."
    )


def _load_emoji(language, image_size, cache_dir, font_path, cldr_dir, skin_tones, verbose):
    image_size = _emoji_size(image_size)
    font_path, cldr_dir = os.fspath(font_path), os.fspath(cldr_dir)
    labels = read_labels(os.path.join(cldr_dir, "properties", "labels.txt"))
    labels = [(e, g, s) for e, g, s in labels
              if g not in _DROPPED_GROUPS and s not in _DROPPED_SUBGROUPS]
    group_names = list(dict.fromkeys(g for _, g, _ in labels))
    subgroup_names = list(dict.fromkeys(s for _, _, s in labels))
    heldout = _heldout(labels)
    annotations = read_annotations(cldr_dir, language)
    if skin_tones:
        labels = _with_skin_tones(labels, cldr_dir)
    images = _cached_renders([e for e, _, _ in labels], font_path, image_size, cache_dir, verbose,
                             tag="emoji-skin-tones" if skin_tones else "emoji")
    rows = [(e, g, s, annotations[_strip_fe0f(e)]) for e, g, s in labels
            if e in images and _strip_fe0f(e) in annotations]
    if not rows:
        raise ValueError(f"No emoji of {font_path} has an annotation in {language!r}.")
    group_index = {g: i for i, g in enumerate(group_names)}
    subgroup_index = {s: i for i, s in enumerate(subgroup_names)}
    return ImageTextPairs(
        images=np.stack([images[e] for e, _, _, _ in rows]),
        captions=np.array([_caption(name, keywords, language)
                           for _, _, _, (name, keywords) in rows], dtype=str),
        emoji=np.array([e for e, _, _, _ in rows], dtype=str),
        names=np.array([name for _, _, _, (name, _) in rows], dtype=str),
        groups=np.array([group_index[g] for _, g, _, _ in rows], dtype="int64"),
        subgroups=np.array([subgroup_index[s] for _, _, s, _ in rows], dtype="int64"),
        group_names=group_names, subgroup_names=subgroup_names,
        heldout_subgroups=np.array([subgroup_index[s] for s in heldout], dtype="int64"),
        language=language, source="emoji")


def _with_skin_tones(labels, cldr_dir):
    """`labels` with, after each emoji, its skin-tone variants (those CLDR's
    English derived annotations list), which take their base's labels."""
    variants = {}
    path = os.path.join(cldr_dir, "annotationsDerived", "en.xml")
    if os.path.isfile(path):
        for element in ElementTree.parse(path).getroot().iter("annotation"):
            cp = element.get("cp") or ""
            if element.get("type") == "tts" and len(cp) > 1 and SKIN_TONES.intersection(cp):
                base = "".join(c for c in cp if c not in SKIN_TONES)
                variants.setdefault(base, []).append(cp)
    out = []
    for emoji, group, subgroup in labels:
        out.append((emoji, group, subgroup))
        out.extend((v, group, subgroup) for v in variants.get(_strip_fe0f(emoji), ()))
    return out


# === Your own pairs: a CSV ===


def _read_caption_csv(path):
    """`(files, captions)` of a CSV of `image,caption` rows, checked (files
    exist, captions non-empty, two columns) before any image is read."""
    from keras_ssl.datasets.folders import IMAGE_EXTENSIONS

    folder = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    numbered = [(number, row) for number, row in enumerate(rows, start=1) if row]
    if numbered and [c.strip().lower() for c in numbered[0][1]] == ["image", "caption"]:
        numbered = numbered[1:]
    if not numbered:
        raise ValueError(f"The captions CSV {path!r} is empty: expected rows `image,caption`.")
    for number, row in numbered:
        if len(row) != 2:
            raise ValueError(
                f"Row {number} of {path!r} has {len(row)} column(s), expected 2 (image path, "
                "caption); quote a caption that holds commas: \"a cat, asleep\"."
            )
    empty = [number for number, (_, caption) in numbered if not caption.strip()]
    if empty:
        raise ValueError(f"{len(empty)} empty caption(s) in {path!r}, at row(s) "
                         f"{', '.join(map(str, empty[:10]))}{' ...' if len(empty) > 10 else ''}.")
    files = [os.path.join(folder, image.strip()) for _, (image, _) in numbered]
    missing = [(number, f) for (number, _), f in zip(numbered, files) if not os.path.isfile(f)]
    if missing:
        shown = ", ".join(f"{os.path.relpath(f, folder)} (row {n})" for n, f in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise FileNotFoundError(f"{len(missing)} image file(s) named in {path!r} do not exist: "
                                f"{shown}{more}.")
    foreign = [(number, f) for (number, _), f in zip(numbered, files)
               if os.path.splitext(f)[1].lower() not in IMAGE_EXTENSIONS]
    if foreign:
        number, name = foreign[0]
        raise ValueError(f"{len(foreign)} file(s) named in {path!r} are not images "
                         f"({', '.join(IMAGE_EXTENSIONS)}); the first: {name!r} (row {number}).")
    captions = [" ".join(caption.split()) for _, (_, caption) in numbered]
    return files, captions, [number for number, _ in numbered]


def _load_csv(path, image_size, language):
    import tensorflow as tf

    from keras_ssl.datasets.folders import _readable, _size_pair, image_decoder

    if os.path.isdir(path):
        folder, path = path, os.path.join(path, CAPTIONS_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"The folder {folder!r} has no {CAPTIONS_FILE} (rows "
                                    "`image,caption`).")
    files, captions, numbers = _read_caption_csv(path)
    _, bad = _readable(files)
    if bad:
        rows = dict(zip(files, numbers))
        shown = ", ".join(f"{os.path.basename(f)} (row {rows[f]})" for f in bad[:5])
        raise ValueError(f"{len(bad)} image file(s) named in {path!r} are unreadable: {shown}.")
    decode = image_decoder(_size_pair(image_size), 3)
    dataset = tf.data.Dataset.from_tensor_slices(files).map(
        lambda f: decode(tf.io.read_file(f)), num_parallel_calls=tf.data.AUTOTUNE)
    images = np.stack(list(dataset.as_numpy_iterator()))
    return ImageTextPairs(images, np.array(captions, dtype=str), files=np.array(files, dtype=str),
                          language=language, source=path)


def load_image_text(name="emoji", language="en", image_size=64, cache_dir=None,
                    font_path=FONT_PATH, cldr_dir=CLDR_DIR, skin_tones=False, verbose=True):
    """Image-caption pairs, offline: rendered emoji with CLDR captions, or a CSV.

    `name="emoji"`: the emoji of Noto Color Emoji that CLDR's `labels.txt`
    puts in a group and subgroup and that have a short name in `language`
    (any CLDR annotation language, `emoji_languages()`), drawn by the font
    (ZWJ sequences and flags included when the font shapes them into one
    glyph), without the skin-tone components. Each is drawn at the font's
    109-pixel size, cropped to the glyph, centred on a white square with a
    6% margin and resized (Lanczos) to `image_size`. Captions join the
    short name and the other keywords: "grinning face: face, grin";
    Chinese "嘿嘿：笑脸、脸". `skin_tones=True` adds the skin-tone variants
    (about twice as many emoji), labelled as their base emoji.

    The renders are cached per image size (not per language) as an `.npz`
    in `cache_dir` (default: `~/.keras/datasets/image_text`, under
    `KERAS_HOME` when set), keyed by the font file and the emoji list, so a
    new font or CLDR version renders again.

    `name` may also be the path of a CSV file of `image,caption` rows (a
    header row `image,caption` is optional; quote captions with commas),
    or of a folder holding `captions.csv`. Image paths are relative to the
    CSV's folder, or absolute. Everything is checked (files exist,
    captions non-empty, two columns a row) before images are decoded,
    resized (centre crop) to `image_size` with 3 channels. Such pairs have
    no groups: `split()` draws a random split from a seed.

    Args:
        name: "emoji", or the path of a CSV or of a folder with captions.csv.
        language: the captions' language (emoji).
        image_size: side of the square images (a CSV also takes (height, width)).
        cache_dir: where rendered emoji are kept; None for the default.
        font_path, cldr_dir: the Noto Color Emoji font and CLDR's `common`
            folder; default: where Debian installs them
            (`apt-get install fonts-noto-color-emoji unicode-cldr-core`).
        skin_tones: add the skin-tone variants of the emoji.
        verbose: report rendering progress (nothing is printed on a cache hit).

    Returns:
        An `ImageTextPairs`: `images` uint8 (N, H, W, 3), `captions`,
        `dataset` (tf.data of `(image, caption)`), `split()`, `subset()`;
        for emoji also `emoji`, `names`, `groups`, `subgroups`,
        `group_names`, `subgroup_names`, `subgroup_prompts()`,
        `group_prompts()`.

    Example:

    >>> pairs = load_image_text("emoji", image_size=32)  # doctest: +SKIP
    >>> train, test = pairs.split()  # doctest: +SKIP
    >>> prompts = [pairs.subgroup_prompts()[i] for i in pairs.heldout_subgroups]  # doctest: +SKIP
    """
    if check_image_text_source(name, language, font_path, cldr_dir) == "emoji":
        return _load_emoji(language, image_size, cache_dir, font_path, cldr_dir, skin_tones,
                           verbose)
    return _load_csv(os.fspath(name), image_size, language)
