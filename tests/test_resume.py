import json
import os
import signal
import subprocess
import sys
import time

import pytest


def read_epochs(path):
    try:
        with open(path) as f:
            return len(json.load(f).get("loss", []))
    except (OSError, ValueError):
        return 0


@pytest.mark.slow
def test_killed_pretraining_resumes_and_loses_at_most_one_epoch(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "keras_ssl.cli", "pretrain", "--dataset", "digits",
           "--backbone", "convnet", "--epochs", "12", "--batch-size", "64",
           "--limit", "512", "--out", str(out), "--no-export"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    history = out / "history.json"
    deadline = time.time() + 240
    while read_epochs(history) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)  # a crash: no clean-up code runs
    proc.wait()
    done_before_kill = read_epochs(history)
    assert 3 <= done_before_kill < 12
    assert not (out / "model.keras").exists()

    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((out / "pretrain.json").read_text())
    (resumed_at,) = summary["start_epochs"]
    assert done_before_kill - 1 <= resumed_at <= done_before_kill  # at most one epoch lost
    assert read_epochs(history) == 12
    assert summary["epochs_completed"] == 12
    assert (out / "model.keras").exists()
    assert not (out / "model.tmp.keras").exists()
