"""Import TensorFlow without its start-up noise.

On a machine without a GPU, importing TensorFlow prints lines such as

```
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1700000000.000000  1234 port.cc:153] oneDNN custom operations are on. ...
I0000 00:00:1700000000.000000  1234 cudart_stub.cc:31] Could not find cuda drivers ...
```

twice: once when `libtensorflow_framework.so.2` is loaded and once when
`_pywrap_profiler_plugin.so`, which carries its own copy of the same code, is
loaded. They are written by C++ static initializers, through absl logging,
before TensorFlow has read `TF_CPP_MIN_LOG_LEVEL`, so that variable (and any
Python-side logging setting) cannot silence them. The first use of the GPU
platform then logs `E0000 ... failed call to cuInit` on a CUDA build of
TensorFlow when the machine has no GPU, which reads like a failure but only
means "CPU only".

`import_tensorflow` therefore imports TensorFlow with file descriptor 2
redirected into a pipe, and hands stderr back afterwards. What was written in
the meantime is replayed, less the log records below the chosen
`TF_CPP_MIN_LOG_LEVEL` (2, warnings and info, unless the user set another
value) and the absl banner; anything else, such as Python warnings or lines
not in absl's format, is replayed unchanged. If the import raises, or the
process dies in it (a C++ `LOG(FATAL)` or an abort), everything captured is
replayed verbatim, so no error message is lost.

Written by hand because neither TensorFlow nor absl has a switch for these
messages, and in-process output capturing (a reader thread, a temporary file)
loses what was captured when the process aborts during the import. The pipe
is drained by a small child process running this file (standard library only,
started with `python -I -S`), which outlives a crashing parent and then
replays everything it received.
"""

import contextlib
import glob
import os
import re
import subprocess
import sys

LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
DEFAULT_LOG_LEVEL = 2

# absl's log line prefix: severity letter, MMDD, time, thread id, file:line].
# Before absl is initialized the time reads "00:00:<seconds since epoch>".
_RECORD = re.compile(
    r"^(?P<severity>[IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+\s+"
    r"(?P<source>[^\s:\]]+):\d+\]\s?(?P<message>.*)$"
)
_SEVERITIES = "IWEF"
_BANNER = (
    "WARNING: All log messages before absl::InitializeLog() is called are "
    "written to STDERR"
)
# Second lines of multi-line start-up records (cpu_feature_guard.cc).
_CONTINUATIONS = ("To enable the following instructions:",)
_CUDA_INIT_FAILURE = "failed call to cuInit"
# How long to wait for the relay process to replay what it captured.
_RELAY_TIMEOUT = 30


def filter_startup_log(
    text, min_level=DEFAULT_LOG_LEVEL, drop_cuda_init_failure=False
):
    """Remove TensorFlow's start-up log records from captured stderr text.

    Only lines in absl's log format are judged; every other line is kept, in
    order. `FATAL` records are always kept.

    Args:
        text: str. What was written to stderr.
        min_level: int. Drop absl records below this severity, as
            `TF_CPP_MIN_LOG_LEVEL` would: 1 drops info, 2 also warnings, 3
            also errors. The "before absl::InitializeLog()" banner is dropped
            when `min_level` is at least 1.
        drop_cuda_init_failure: bool. Also drop the "failed call to cuInit"
            error, for a machine that has no GPU.

    Returns:
        The kept text.
    """
    kept = []
    after_dropped_record = False
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        if min_level >= 1 and stripped == _BANNER:
            continue
        match = _RECORD.match(stripped)
        if match:
            severity = _SEVERITIES.index(match.group("severity"))
            drop = severity < 3 and (
                severity < min_level
                or (
                    drop_cuda_init_failure
                    and _CUDA_INIT_FAILURE in match.group("message")
                )
            )
            after_dropped_record = drop
            if not drop:
                kept.append(line)
            continue
        if after_dropped_record and stripped.startswith(_CONTINUATIONS):
            continue
        after_dropped_record = False
        kept.append(line)
    return "".join(kept)


def _flush_python_stderr():
    for stream in (sys.stderr, sys.__stderr__):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass


class _Relay:
    """Holds fd 2 on a pipe drained by a child process, until `stop`."""

    def __init__(self, process, saved_stderr, token):
        self.process = process
        self.saved_stderr = saved_stderr
        self.token = token

    @classmethod
    def start(cls, min_level, drop_cuda_init_failure):
        """Redirect fd 2; returns None (nothing redirected) if not possible."""
        script = os.path.abspath(__file__)
        if os.name != "posix" or not sys.executable or not os.path.isfile(script):
            return None
        _flush_python_stderr()
        try:
            saved_stderr = os.dup(2)
        except OSError:
            return None
        token = os.urandom(16).hex()
        try:
            read_end, write_end = os.pipe()
        except OSError:
            os.close(saved_stderr)
            return None
        try:
            process = subprocess.Popen(
                [
                    sys.executable, "-I", "-S", script, "--relay",
                    str(min_level), str(int(drop_cuda_init_failure)), token,
                ],
                stdin=read_end,
                stdout=saved_stderr,
                stderr=saved_stderr,
                close_fds=True,
            )
        except (OSError, ValueError, subprocess.SubprocessError):
            for fd in (read_end, write_end, saved_stderr):
                os.close(fd)
            return None
        os.close(read_end)
        os.dup2(write_end, 2)
        os.close(write_end)
        return cls(process, saved_stderr, token)

    def stop(self, succeeded):
        """Restore fd 2 and wait until the captured text is replayed.

        Args:
            succeeded: bool. Whether the guarded code finished normally: only
                then is the captured text filtered; otherwise it is replayed
                verbatim.
        """
        _flush_python_stderr()
        try:
            if succeeded:
                os.write(2, self.token.encode("ascii"))
        finally:
            os.dup2(self.saved_stderr, 2)
            os.close(self.saved_stderr)
            try:
                self.process.wait(timeout=_RELAY_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def quiet_stderr(min_level=DEFAULT_LOG_LEVEL, drop_cuda_init_failure=False):
    """Capture fd 2 in a block and replay it without start-up log records.

    Everything written to stderr in the block (by C++, Python or child
    processes) is held back and written out when the block ends, filtered by
    `filter_startup_log` if the block finished normally, verbatim if it raised
    or the process died in it. Where fd 2 cannot be redirected (not a POSIX
    system, no Python executable to run the relay), the block runs unchanged.

    Args:
        min_level: int. As in `filter_startup_log`. With 0 nothing is
            captured.
        drop_cuda_init_failure: bool. As in `filter_startup_log`.

    Example:

    ```python
    with quiet_stderr():
        import tensorflow as tf
    ```
    """
    relay = _Relay.start(min_level, drop_cuda_init_failure) if min_level > 0 else None
    if relay is None:
        yield
        return
    succeeded = False
    try:
        yield
        succeeded = True
    finally:
        relay.stop(succeeded)


def _user_log_level():
    """The user's `TF_CPP_MIN_LOG_LEVEL` as TensorFlow reads it, or None."""
    value = os.environ.get(LOG_LEVEL_VARIABLE)
    if value is None:
        return None
    try:
        return max(int(value), 0)
    except ValueError:
        return 0


def _may_have_gpu():
    """Whether the operating system shows a GPU that CUDA could use."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False  # GPUs hidden on purpose: a cuInit failure is expected.
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/dxg")


def import_tensorflow():
    """Import TensorFlow for keras_ssl, without its start-up noise.

    Sets `TF_CPP_MIN_LOG_LEVEL` to 2 unless the user set it, then imports
    TensorFlow inside `quiet_stderr`, so that the records TensorFlow writes
    before reading that variable obey it too. With the default level, on a
    CUDA build of TensorFlow and a machine without a GPU, the GPU platform is
    also initialized inside the block, so that its "failed call to cuInit"
    error is not printed later. A level set by the user is respected as is:
    with `TF_CPP_MIN_LOG_LEVEL=0` everything is shown. Does nothing but
    return the module if TensorFlow is already imported.

    Returns:
        The `tensorflow` module.
    """
    user_level = _user_log_level()
    os.environ.setdefault(LOG_LEVEL_VARIABLE, str(DEFAULT_LOG_LEVEL))
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    min_level = DEFAULT_LOG_LEVEL if user_level is None else user_level
    cpu_only = user_level is None and not _may_have_gpu()
    with quiet_stderr(min_level, drop_cuda_init_failure=cpu_only):
        import tensorflow as tf

        if cpu_only and tf.sysconfig.get_build_info().get("is_cuda_build"):
            try:
                tf.config.list_physical_devices("GPU")
            except Exception:  # Surfaces again, unfiltered, on first use.
                pass
    return tf


def _relay_main(argv):
    """Child process: read stdin to its end, write it out filtered or not."""
    import signal

    # A Ctrl-C meant for the parent must not cut the replay short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    min_level, drop_cuda_init_failure, token = int(argv[0]), argv[1] == "1", argv[2]
    data = sys.stdin.buffer.read()
    marker = token.encode("ascii")
    if marker in data:
        text = data.replace(marker, b"").decode("utf-8", "surrogateescape")
        text = filter_startup_log(text, min_level, drop_cuda_init_failure)
        data = text.encode("utf-8", "surrogateescape")
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except OSError:
        pass  # The parent's stderr is gone; there is nowhere to write.


if __name__ == "__main__" and sys.argv[1:2] == ["--relay"]:
    _relay_main(sys.argv[2:])
