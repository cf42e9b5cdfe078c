"""Packaging for keras_ssl: self-supervised pretraining for Keras 3."""

import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
VERSION = "0.1.0"

setup(
    name="keras-ssl",
    version=VERSION,
    description="Self-supervised pretraining for Keras 3: SimCLR, rotation, MAE, BERT masked-LM.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_ssl", "keras_ssl.*"]),
    include_package_data=True,
    install_requires=[
        # The Keras 3 / TensorFlow stack the library is tested against.
        "keras>=3.15,<3.16",
        # The full tensorflow wheel (not tensorflow-cpu): tensorflow-text,
        # needed by keras-hub's tokenizers, requires it.
        "tensorflow>=2.21,<2.22",
        "tensorflow-text>=2.21,<2.22",
        "keras-hub>=0.32,<0.33",
        # SentencePiece vocabularies (text.train_sentencepiece; ALBERT).
        "sentencepiece>=0.2,<0.3",
        "tensorflow-datasets>=4.9.10,<4.10",
        # tensorflow-datasets imports it without declaring it on Python 3.11.
        "importlib-resources",
        "numpy",
        "scikit-learn",
        "matplotlib",
        # Header checks of image folders (datasets.from_directory).
        "pillow",
        "tqdm",
        # TensorBoard logs of every run (tensorflow no longer installs it).
        "tensorboard",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-xdist>=3.2",
            "papermill>=2.6",
            "nbformat",
            "ipykernel",
        ],
    },
    entry_points={"console_scripts": ["keras-ssl=keras_ssl.cli:main"]},
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
