"""pytest configuration: quiet TensorFlow, deterministic seeds, markers."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: end-to-end tests (seconds to minutes); run in CI too"
    )


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(1234)
    yield


# Scripts run as subprocesses by the tests: importing them for doctest
# collection would configure TensorFlow devices or read sys.argv.
collect_ignore = [
    "tests/distributed/multi_worker.py",
    "tests/distributed/replica_equality.py",
]
