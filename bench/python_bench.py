#!/usr/bin/python3
"""Time convkit from Python.

  PYTHONPATH=build/python /usr/bin/python3 bench/python_bench.py [--threads N] [--repeats R]
      [--cxx-bench build/bench/convkit-bench] [--only overhead,layers,blocks]

overhead: convkit.Conv2d.forward on the seed notebook's layer with preallocated arrays, per call,
          against convkit-bench's median for the same problem, backend and threads (needs --cxx-bench).
layers:   ResNet-50's res2b and res3b 3x3 convolutions forward through convkit.torch.Conv2d
          (channels_last; it packs its unchanged weight from the second call, as convkit-bench's
          forward packs once) against convkit-bench's figure and torch.nn.Conv2d.
blocks:   ResNet-50 bottleneck blocks (res2b, res3b) forward, and forward+backward, built from
          convkit.torch.Conv2d against the same blocks from torch.nn.Conv2d, channels_last.
Both libraries run on --threads threads (torch.set_num_threads and convkit's threads=).
The contenders of one table row are timed in turns, --repeats rounds of them, so that a busy
spell on a shared machine hits them alike; each figure is the median over the rounds, each ratio
the median of the rounds' ratios. Within a round the overhead figures time many calls together (a
call is too short to time alone); the others use convkit-bench's statistic, the median single call.
"""
import argparse
import re
import statistics
import subprocess
import time

import numpy as np
import torch

import convkit
import convkit.torch as ckt

SEED_PROBLEM = "mb10_ic3ih4iw4_oc8_kh2kw2_sh2sw2_ph2pw2"
LAYERS = {"res2b_3x3": "mb1_ic64ih56iw56_oc64_kh3kw3_ph1pw1", "res3b_3x3": "mb1_ic128ih28iw28_oc128_kh3kw3_ph1pw1"}
# (name, input channels = output channels, bottleneck width, spatial size)
BLOCKS = [("res2b", 256, 64, 56), ("res3b", 512, 128, 28)]


def per_call_in_rounds(call, min_round_seconds=0.05):
    """A function timing one round of many calls of `call` (enough for min_round_seconds), per call."""
    call()
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            call()
        if time.perf_counter() - start >= min_round_seconds:
            break
        calls *= 2

    def one_round():
        start = time.perf_counter()
        for _ in range(calls):
            call()
        return (time.perf_counter() - start) / calls
    return one_round


def median_single_call(call, min_time=0.2):
    """A function giving convkit-bench's statistic: after a warm-up call, time calls one by one
    until min_time has passed (at least 5), the median."""
    def one_run():
        call()
        times = []
        while len(times) < 5 or sum(times) < min_time:
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        return statistics.median(times)
    return one_run


def cxx_bench_run(cxx_bench, problem, backend, threads):
    """A function running convkit-bench once for one backend's forward median."""
    def one_run():
        text = subprocess.run([cxx_bench, "--conv", problem, "--dir", "fwd", "--threads", str(threads), "--backend",
                               backend, "--min-time", "0.2"], check=True, capture_output=True, text=True).stdout
        match = re.search(rf"^\s*{re.escape(backend)}\s+([0-9.]+)", text, re.MULTILINE)
        if not match:
            raise RuntimeError(f"no {backend} row in convkit-bench's output:\n{text}")
        return float(match.group(1)) * 1e-6
    return one_run


def interleaved(measures, repeats):
    """Every measure once per round, round after round, so that a busy spell on a shared machine
    hits all of them alike: the medians per measure, and the rounds for ratios within a round."""
    rounds = [{name: measure() for name, measure in measures.items()} for _ in range(repeats)]
    medians = {name: statistics.median(r[name] for r in rounds) for name in measures}
    return medians, rounds


def layer_for(problem, threads, backend="auto"):
    p = convkit.parse_problem(problem)
    layer = convkit.Conv2d(p.in_c, p.out_c, (p.kernel_h, p.kernel_w), stride=(p.stride_h, p.stride_w),
                           padding=(p.pad_top, p.pad_bottom, p.pad_left, p.pad_right),
                           dilation=(p.dilation_h, p.dilation_w), groups=p.groups, backend=backend, threads=threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((p.batch, p.in_h, p.in_w, p.in_c), dtype=np.float32)
    w = rng.standard_normal(layer.weight_shape, dtype=np.float32)
    b = rng.standard_normal(p.out_c, dtype=np.float32)
    y = np.empty((p.batch, p.out_h, p.out_w, p.out_c), np.float32)
    return p, layer, x, w, b, y


def overhead(args):
    print(f"# Python overhead per call: convkit.Conv2d.forward(x, w, b, out=y), {SEED_PROBLEM}")
    _, layer, x, w, b, y = layer_for(SEED_PROBLEM, args.threads)
    layer.forward(x, w, b, out=y)
    measures = {"preallocated": per_call_in_rounds(lambda: layer.forward(x, w, b, out=y)),
                "allocating": per_call_in_rounds(lambda: layer.forward(x, w, b))}
    if args.cxx_bench:
        measures["cxx"] = cxx_bench_run(args.cxx_bench, SEED_PROBLEM, layer.backend, args.threads)
    medians, rounds = interleaved(measures, args.repeats)
    print(f"  python, preallocated y   {medians['preallocated'] * 1e6:9.2f} us   ({layer.backend})")
    print(f"  python, y allocated      {medians['allocating'] * 1e6:9.2f} us")
    if args.cxx_bench:
        print(f"  C++ convkit-bench        {medians['cxx'] * 1e6:9.2f} us   ({layer.backend})")
        for what in ("preallocated", "allocating"):
            extra = statistics.median(r[what] - r["cxx"] for r in rounds)
            print(f"  overhead, {what:14s} {extra * 1e6:9.2f} us (median over rounds of python - C++)")


def layers(args):
    print("# ResNet-50 3x3 layers, forward, batch 1")
    for name, problem in LAYERS.items():
        p, layer, x, w, b, y = layer_for(problem, args.threads)
        layer.forward(x, w, b, out=y)
        ours = ckt.Conv2d(p.in_c, p.out_c, p.kernel_h, padding=p.pad_top, threads=args.threads)
        theirs = torch.nn.Conv2d(p.in_c, p.out_c, p.kernel_h, padding=p.pad_top)
        theirs.load_state_dict(ours.state_dict())
        t = torch.randn(1, p.in_c, p.in_h, p.in_w).contiguous(memory_format=torch.channels_last)
        measures = {"numpy": median_single_call(lambda: layer.forward(x, w, b, out=y)),
                    "convkit.torch": median_single_call(lambda: ours(t)),
                    "torch.nn": median_single_call(lambda: theirs(t))}
        if args.cxx_bench:
            measures["cxx"] = cxx_bench_run(args.cxx_bench, problem, layer.backend, args.threads)
        with torch.no_grad():
            medians, rounds = interleaved(measures, args.repeats)
        line = (f"  {name:10s} convkit.Conv2d {medians['numpy'] * 1e6:8.1f} us   "
                f"convkit.torch {medians['convkit.torch'] * 1e6:8.1f} us   torch.nn {medians['torch.nn'] * 1e6:8.1f} us   "
                f"torch/convkit.torch {statistics.median(r['torch.nn'] / r['convkit.torch'] for r in rounds):5.2f}x")
        if args.cxx_bench:
            line += (f"   C++ {layer.backend} {medians['cxx'] * 1e6:8.1f} us   convkit.torch/C++ "
                     f"{statistics.median(r['convkit.torch'] / r['cxx'] for r in rounds):5.3f}")
        print(line)


class Bottleneck(torch.nn.Module):
    """A ResNet-50 bottleneck without downsampling: 1x1 reduce, 3x3, 1x1 expand, identity shortcut."""

    def __init__(self, conv, channels, width):
        super().__init__()
        self.reduce = conv(channels, width, 1, bias=False)
        self.conv = conv(width, width, 3, padding=1, bias=False)
        self.expand = conv(width, channels, 1, bias=False)

    def forward(self, x):
        y = torch.relu(self.reduce(x))
        y = torch.relu(self.conv(y))
        return torch.relu(self.expand(y) + x)


def blocks(args):
    print("# ResNet-50 bottleneck blocks, batch 1, channels_last")
    for name, channels, width, size in BLOCKS:
        torch.manual_seed(0)
        ours = Bottleneck(lambda *a, **k: ckt.Conv2d(*a, threads=args.threads, **k), channels, width)
        theirs = Bottleneck(torch.nn.Conv2d, channels, width)
        theirs.load_state_dict(ours.state_dict())
        x = torch.randn(1, channels, size, size).contiguous(memory_format=torch.channels_last)
        xg = x.clone().requires_grad_()

        def forward(m):
            with torch.no_grad():
                m(x)

        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), rtol=1e-3, atol=1e-3)
        measures = {("forward", "convkit.torch"): median_single_call(lambda: forward(ours)),
                    ("forward", "torch.nn"): median_single_call(lambda: forward(theirs)),
                    ("forward+backward", "convkit.torch"): median_single_call(lambda: ours(xg).sum().backward()),
                    ("forward+backward", "torch.nn"): median_single_call(lambda: theirs(xg).sum().backward())}
        medians, rounds = interleaved(measures, args.repeats)
        for what in ("forward", "forward+backward"):
            ratio = statistics.median(r[what, "torch.nn"] / r[what, "convkit.torch"] for r in rounds)
            print(f"  {name:6s} {what:17s} convkit.torch {medians[what, 'convkit.torch'] * 1e3:8.3f} ms   "
                  f"torch.nn {medians[what, 'torch.nn'] * 1e3:8.3f} ms   torch/convkit {ratio:5.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cxx-bench", help="path to convkit-bench, for the C++ figures")
    parser.add_argument("--only", default="overhead,layers,blocks")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"convkit {convkit.__version__} ({convkit.simd_arch()}), torch {torch.__version__}, {args.threads} thread(s)")
    for part in args.only.split(","):
        {"overhead": overhead, "layers": layers, "blocks": blocks}[part](args)


if __name__ == "__main__":
    main()
