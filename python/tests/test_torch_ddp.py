"""convkit.torch.Conv2d under DistributedDataParallel: two processes on 127.0.0.1 (gloo) train a
tiny CNN for a few steps, and their parameters match the same steps in one process."""
import os
import socket
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402

if not dist.is_available():
    pytest.skip("this torch build has no torch.distributed", allow_module_level=True)
if not dist.is_gloo_available():
    pytest.skip("this torch build has no gloo backend for torch.distributed", allow_module_level=True)

import ddp_worker  # noqa: E402  (python/tests, on sys.path under pytest)

WORLD_SIZE = 2
TIME_LIMIT_SECONDS = 120


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_matches_one_process(tmp_path):
    port = free_port()
    outputs = [tmp_path / f"rank{rank}.pt" for rank in range(WORLD_SIZE)]
    workers = [subprocess.Popen([sys.executable, ddp_worker.__file__, str(rank), str(WORLD_SIZE), str(port), str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))
               for rank, out in enumerate(outputs)]
    logs = []
    try:
        for worker in workers:
            logs.append(worker.communicate(timeout=TIME_LIMIT_SECONDS)[0].decode())
    except subprocess.TimeoutExpired:
        pytest.fail(f"the DDP workers did not finish within {TIME_LIMIT_SECONDS} s")
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
    for worker, log in zip(workers, logs):
        assert worker.returncode == 0, log

    model = ddp_worker.make_model()
    initial = {name: p.detach().clone() for name, p in model.state_dict().items()}
    ddp_worker.train(model, *ddp_worker.make_data())
    single = model.state_dict()
    ranks = [torch.load(out) for out in outputs]
    for name, value in single.items():
        assert not torch.equal(value, initial[name]), f"{name} did not train"
        # The replicas apply the same averaged gradients: identical bit for bit.
        assert torch.equal(ranks[0][name], ranks[1][name]), name
        torch.testing.assert_close(ranks[0][name], value, rtol=1e-5, atol=1e-6, msg=name)
