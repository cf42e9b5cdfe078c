"""`import keras_ssl` and `keras-ssl` print no TensorFlow start-up noise.

Each check runs a fresh Python process, since the noise is written once per
process, by C++, while TensorFlow is imported. The children run without
`TF_CPP_MIN_LOG_LEVEL` (the test runner sets it) unless a check sets it.
"""

import os
import re
import subprocess
import sys
import textwrap

from keras_ssl import startup

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NOISE = (
    "absl::InitializeLog",
    "oneDNN custom operations",
    "cudart_stub",
    "cpu_feature_guard",
    "cuInit",
)

BANNER = (
    "WARNING: All log messages before absl::InitializeLog() is called are "
    "written to STDERR\n"
)
ONEDNN = (
    "I0000 00:00:1795985467.327421    2345 port.cc:153] oneDNN custom "
    "operations are on.\n"
)
CUDART = (
    "I0000 00:00:1795985467.327882    2345 cudart_stub.cc:31] Could not find "
    "cuda drivers on your machine, GPU will not be used.\n"
)
CPU_GUARD = (
    "I0000 00:00:1795985467.411002    2345 cpu_feature_guard.cc:227] This "
    "TensorFlow binary is optimized to use available CPU instructions.\n"
    "To enable the following instructions: AVX2 FMA, in other operations, "
    "rebuild TensorFlow with the appropriate compiler flags.\n"
)
W_RECORD = "W0000 00:00:1795985467.5 2345 some_op.cc:12] a warning\n"
CUINIT = (
    "E0000 00:00:1795985470.010203    2345 cuda_platform.cc:52] failed call "
    "to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n"
)
REAL_ERROR = "E0000 00:00:1795985470.5 2345 kernel.cc:7] real C++ error\n"
FATAL = "F0000 00:00:1795985471.5 2345 kernel.cc:9] fatal C++ error\n"
PYTHON_WARNING = "setup.py:3: UserWarning: real warning\n  warnings.warn(x)\n"


def _child_env(**overrides):
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    env["KERAS_BACKEND"] = "tensorflow"
    env["PYTHONPATH"] = os.pathsep.join(
        [REPO] + [p for p in [env.get("PYTHONPATH")] if p]
    )
    env.update(overrides)
    return env


def _run(args, cwd, **env):
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=_child_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _assert_quiet(stderr):
    noisy = [line for line in stderr.splitlines() if any(n in line for n in NOISE)]
    assert not noisy, "start-up noise on stderr:\n" + "\n".join(noisy)


def _records(stderr):
    """absl log records as (severity, source file, message) without times."""
    pattern = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+\s+([^\s:\]]+):\d+\]\s?(.*)$")
    return {m.groups() for m in map(pattern.match, stderr.splitlines()) if m}


def test_filter_drops_start_up_records_below_the_level():
    text = (
        BANNER + ONEDNN + CUDART + PYTHON_WARNING + CPU_GUARD + W_RECORD
        + CUINIT + REAL_ERROR + FATAL + "plain line\n"
    )
    assert startup.filter_startup_log(text, 2, drop_cuda_init_failure=True) == (
        PYTHON_WARNING + REAL_ERROR + FATAL + "plain line\n"
    )
    assert startup.filter_startup_log(text, 2) == (
        PYTHON_WARNING + CUINIT + REAL_ERROR + FATAL + "plain line\n"
    )
    assert startup.filter_startup_log(text, 1) == (
        PYTHON_WARNING + W_RECORD + CUINIT + REAL_ERROR + FATAL + "plain line\n"
    )
    assert startup.filter_startup_log(text, 3) == (
        PYTHON_WARNING + FATAL + "plain line\n"
    )
    assert startup.filter_startup_log(text, 0) == text


def _fake_import(tmp_path, body):
    """A child that imports a module writing to fd 2, inside `quiet_stderr`.

    `keras_ssl.startup` is loaded from its file, without the package (and so
    without TensorFlow), which keeps these checks fast.
    """
    (tmp_path / "fake_tensorflow.py").write_text(
        "import os, sys, warnings\n" + textwrap.dedent(body)
    )
    script = f"""
        import importlib.util, sys
        sys.path.insert(0, {str(tmp_path)!r})
        spec = importlib.util.spec_from_file_location(
            "startup_under_test", {startup.__file__!r})
        startup = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(startup)
        with startup.quiet_stderr(2, drop_cuda_init_failure=True):
            import fake_tensorflow
        print("imported")
        sys.stderr.write("after the import\\n")
    """
    return _run(["-c", textwrap.dedent(script)], cwd=tmp_path)


def _writes(*lines):
    return "".join(f"os.write(2, {line!r}.encode())\n" for line in lines)


def test_a_successful_import_keeps_only_real_messages(tmp_path):
    result = _fake_import(
        tmp_path,
        _writes(BANNER, ONEDNN, CUDART, CUINIT)
        + "warnings.warn('real warning')\n"
        + _writes(REAL_ERROR, BANNER, ONEDNN),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "imported\n"
    _assert_quiet(result.stderr)
    assert "UserWarning: real warning" in result.stderr
    assert result.stderr.endswith(REAL_ERROR + "after the import\n")


def test_a_failed_import_replays_everything(tmp_path):
    result = _fake_import(
        tmp_path,
        _writes(BANNER, ONEDNN, "a message from C++\n")
        + "raise ImportError('libfoo.so: cannot open shared object file')\n",
    )
    assert result.returncode == 1
    assert result.stderr.startswith(BANNER + ONEDNN + "a message from C++\n")
    assert "ImportError: libfoo.so: cannot open shared object file" in result.stderr


def test_a_crash_during_the_import_replays_everything(tmp_path):
    result = _fake_import(
        tmp_path, _writes(BANNER, ONEDNN, FATAL) + "os.abort()\n"
    )
    assert result.returncode != 0
    assert result.stderr == BANNER + ONEDNN + FATAL


def test_keras_ssl_command_is_quiet(tmp_path):
    result = _run(["-m", "keras_ssl.cli", "zoo", "list"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    _assert_quiet(result.stderr)
    assert not _records(result.stderr), result.stderr


def test_real_warnings_and_errors_still_show(tmp_path):
    script = """
        import warnings
        import keras_ssl
        import tensorflow as tf
        warnings.warn("real warning")
        print(int(tf.constant(1) + 1))
        tf.reshape(tf.zeros([2]), [3])
    """
    result = _run(["-c", textwrap.dedent(script)], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == "2\n"
    _assert_quiet(result.stderr)
    assert "UserWarning: real warning" in result.stderr
    assert "InvalidArgumentError" in result.stderr
    assert "Input to reshape is a tensor with 2 values" in result.stderr


def test_a_level_set_by_the_user_shows_what_tensorflow_shows(tmp_path):
    script = "import {}; import tensorflow as tf; tf.constant(1)"
    plain = _run(
        ["-c", script.format("tensorflow")], tmp_path, TF_CPP_MIN_LOG_LEVEL="0"
    )
    ours = _run(
        ["-c", script.format("keras_ssl")], tmp_path, TF_CPP_MIN_LOG_LEVEL="0"
    )
    assert plain.returncode == 0, plain.stderr
    assert ours.returncode == 0, ours.stderr
    assert _records(ours.stderr) == _records(plain.stderr)
    assert ours.stderr.count("absl::InitializeLog") == plain.stderr.count(
        "absl::InitializeLog"
    )
