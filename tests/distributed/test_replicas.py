import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def run_replica_equality(method):
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "replica_equality.py"), method],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize(
    "method",
    ["SimCLR", "MoCo", "BYOL", "SimSiam", "BarlowTwins", "VICReg", "DINO", "CLIP", "Distillation"],
)
def test_two_replicas_match_one_device(method):
    """Loss, weight updates and written state (teacher, queue, center) of
    one step on a global batch of 16 split over 2 replicas equal those of
    one device on the same 16 images: loss to 1e-5 relative, updates to
    1e-4 relative to the largest update (SGD, learning rate 1, so an update
    is the gradient), state to 1e-4 absolute. Barlow Twins and VICReg take
    their batch statistics, SimCLR and CLIP (16 image-caption pairs) their
    negatives, from the global batch;
    MoCo enqueues the keys of the global batch; DINO's center averages
    over replicas."""
    result = run_replica_equality(method)
    assert result["replicas"] == 2
    assert result["single_loss"] == pytest.approx(result["multi_loss"], rel=1e-5)
    assert result["max_update"] > 1e-3  # the step did move the weights
    assert result["max_update_diff"] < 1e-4 * max(1.0, result["max_update"])
    assert result["max_state_diff"] < 1e-4
    if method in ("MoCo", "BYOL", "DINO"):
        assert any("kernel" in name for name in result["state"])  # the teacher was compared
    if method in ("MoCo", "Distillation"):
        assert "queue" in result["state"]
    if method == "DINO":
        assert "center" in result["state"]
    if "local_statistics_loss" in result:
        # Without gathering, each replica sees only its own 8 images.
        assert abs(result["local_statistics_loss"] - result["single_loss"]) > 1e-3


@pytest.mark.slow
def test_adversarial_simclr_trains_on_two_replicas():
    """The attack runs in each replica's step (a tf.while_loop around a
    GradientTape): the step trains and its loss is of the same size as one
    device's (not equal: each replica attacks against its own images)."""
    result = run_replica_equality("AdversarialSimCLR")
    assert result["replicas"] == 2
    assert result["max_update"] > 1e-3
    assert result["multi_loss"] == pytest.approx(result["single_loss"], rel=0.2)


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_multi_worker_two_processes_end_with_identical_weights(tmp_path):
    """SimCLR under MultiWorkerMirroredStrategy, 2 worker processes on
    localhost (TF_CONFIG), bounded to 240 s."""
    import numpy as np

    ports = [str(_free_port()), str(_free_port())]
    script = os.path.join(HERE, "multi_worker.py")
    outs = [str(tmp_path / f"worker{i}.json") for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, script, ports[0], ports[1], str(i), outs[i]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(2)
    ]
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err[-3000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    results = [json.load(open(path)) for path in outs]
    assert [r["replicas"] for r in results] == [2, 2]
    np.testing.assert_array_equal(results[0]["weights"], results[1]["weights"])
    assert results[0]["loss"] == results[1]["loss"]
    assert np.isfinite(results[0]["loss"]).all()
