"""PyTorch's side of bench/conv_kernels: the same convolutions, timed the same way.

usage: conv_kernels_torch.py BATCH THREADS REPS wall|cpu C,O,HW,K,S,P ...
Prints one line per convolution: seconds for forward, grad input, grad weight (the fastest
of REPS repetitions, each the mean over ~20 ms of runs; `cpu`: the calling thread's CPU
time, meaningful with THREADS 1 on a busy machine). Forward has a bias, as the d2l
ResNet-18's convs do; each gradient is computed alone (autograd.grad of one input).
"""
import sys
import time

import torch
import torch.nn.functional as F


clock = time.perf_counter


def best_time(fn, reps):
    fn()
    t0 = clock()
    fn()
    once = clock() - t0
    inner = max(1, int(0.02 / max(once, 1e-7)))
    best = float("inf")
    for _ in range(reps):
        start = clock()
        for _ in range(inner):
            fn()
        best = min(best, (clock() - start) / inner)
    return best


def main():
    global clock
    batch, threads, reps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    if sys.argv[4] == "cpu":
        clock = time.thread_time
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    for spec in sys.argv[5:]:
        c, o, hw, k, s, p = (int(v) for v in spec.split(","))
        x = torch.randn(batch, c, hw, hw, requires_grad=True)
        w = torch.randn(o, c, k, k, requires_grad=True)
        b = torch.randn(o)
        with torch.no_grad():
            fwd = best_time(lambda: F.conv2d(x, w, b, stride=s, padding=p), reps)
        y = F.conv2d(x, w, None, stride=s, padding=p)
        dy = torch.randn_like(y)
        dx = best_time(lambda: torch.autograd.grad(y, x, dy, retain_graph=True), reps)
        dw = best_time(lambda: torch.autograd.grad(y, w, dy, retain_graph=True), reps)
        print(f"{fwd:.9f} {dx:.9f} {dw:.9f}", flush=True)


if __name__ == "__main__":
    main()
