"""A tiny CNN built from convkit.torch.Conv2d, trained a few SGD steps: one rank of a
DistributedDataParallel run when started as a script, or all of the batch in one process when
test_torch_ddp.py imports it."""
import sys
from datetime import timedelta

import torch

import convkit.torch as ckt

BATCH, STEPS, LEARNING_RATE = 8, 4, 0.1


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        ckt.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
        ckt.Conv2d(8, 8, 3, stride=2, padding=1, groups=2), torch.nn.ReLU(),
        ckt.Conv2d(8, 8, 3, padding=1, groups=8), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 4))


def make_data():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, 3, 12, 12, generator=generator).contiguous(memory_format=torch.channels_last)
    return x, torch.randint(0, 4, (BATCH,), generator=generator)


def train(model, x, labels):
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    for _ in range(STEPS):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), labels).backward()
        optimizer.step()


def main(rank, world_size, port, out_path):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size,
                            timeout=timedelta(seconds=60))
    model = make_model()
    x, labels = make_data()
    shard = slice(rank * BATCH // world_size, (rank + 1) * BATCH // world_size)
    # Each rank's loss is the mean over its equal shard; DDP averages the gradients, which makes
    # them the full batch's mean-loss gradients.
    train(DistributedDataParallel(model), x[shard], labels[shard])
    torch.save(model.state_dict(), out_path)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
