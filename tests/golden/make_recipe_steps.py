#!/usr/bin/env python3
"""Golden data for the training recipes (docs/training.md, "Recipes"), written by PyTorch.

Run with a Python that has torch (Debian: apt-get install python3-torch):
    python3 tests/golden/make_recipe_steps.py
It writes tests/golden/recipe_steps.safetensors, which tests/golden/test_recipe_steps.cpp reads
(no PyTorch needed there).

A small network (conv, BatchNorm, relu, global average pool, fc; RECIPE_NET in the test) takes
three steps of each recipe from the same initial weights (the generator of make_resnet18_step.py),
a new batch each step. Stored per recipe R: R/lr and R/loss (each step's), R/final/NAME (every
parameter and BatchNorm statistic after the last step) and R/state/NAME (the optimizer's state,
under resnetc's names: P.velocity for SGD's momentum_buffer, P.exp_avg, P.exp_avg_sq and
optimizer.step for AdamW's). And the learning rates of two warmup schedules, stepped every batch:
lr/cosine and lr/step.
"""
import os

import torch
from torch import nn
from torch.nn import functional as F

from make_resnet18_step import fill, uniform, write_safetensors

BATCH, SIZE, STEPS = 6, 8, 3


class Net(nn.Module):  # RECIPE_NET of test_recipe_steps.cpp, with its layer names
    def __init__(self):
        super().__init__()
        self.stem = nn.Module()
        self.stem.conv, self.stem.bn = nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.head = nn.Module()
        self.head.fc = nn.Linear(4, 10)

    def forward(self, x):
        x = F.relu(self.stem.bn(self.stem.conv(x)))
        return self.head.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def groups(net, weight_decay, decay_vectors):
    """One parameter group, or two: no weight decay on one-dimensional parameters (BatchNorm's, biases)."""
    params = list(net.parameters())
    if decay_vectors:
        return [{"params": params, "weight_decay": weight_decay}]
    return [{"params": [p for p in params if p.dim() > 1], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0}]


# name: (optimizer from the parameter groups, label smoothing, whether 1-d parameters decay, lr of each step)
RECIPES = {
    "nesterov": (lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9, nesterov=True), 0.1, True, [0.1, 0.05, 0.1]),
    "adamw": (lambda g: torch.optim.AdamW(g, lr=0.01, betas=(0.9, 0.99), eps=1e-8), 0.1, False, [0.005, 0.01, 0.01]),
    "adamw_decay_all": (lambda g: torch.optim.AdamW(g, lr=0.02), 0.0, True, [0.02, 0.02, 0.01]),
}
DECAY = {"nesterov": 1e-2, "adamw": 0.05, "adamw_decay_all": 0.1}


def run(name, out):
    make, smoothing, decay_vectors, lrs = RECIPES[name]
    torch.manual_seed(0)
    net = Net().train()
    with torch.no_grad():
        for key, t in list(net.state_dict().items()):
            if not key.endswith("num_batches_tracked"):
                t.copy_(fill(key, t))
    opt = make(groups(net, DECAY[name], decay_vectors))
    losses = []
    for step in range(STEPS):
        x = torch.from_numpy(uniform(f"input{step}", BATCH * SIZE * SIZE).reshape(BATCH, 1, SIZE, SIZE)) * 0.5 + 0.5
        y = (torch.arange(BATCH) + step) % 10
        for g in opt.param_groups:
            g["lr"] = lrs[step]
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y, label_smoothing=smoothing)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    out[f"{name}/lr"] = torch.tensor(lrs)
    out[f"{name}/loss"] = torch.tensor(losses)
    for key, t in net.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            out[f"{name}/final/{key}"] = t.detach().clone()
    for key, p in net.named_parameters():
        state = opt.state[p]
        if "momentum_buffer" in state:
            out[f"{name}/state/{key}.velocity"] = state["momentum_buffer"].clone()
        if "exp_avg" in state:
            out[f"{name}/state/{key}.exp_avg"] = state["exp_avg"].clone()
            out[f"{name}/state/{key}.exp_avg_sq"] = state["exp_avg_sq"].clone()
            out[f"{name}/state/optimizer.step"] = torch.tensor([float(state["step"])])


def warmup_lrs(main, epochs, warmup, steps_per_epoch, start_factor, lr=0.1):
    """Each step's lr under LinearLR then `main` in SequentialLR, both stepped every batch."""
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    first = torch.optim.lr_scheduler.LinearLR(opt, start_factor=start_factor, total_iters=warmup * steps_per_epoch)
    schedule = torch.optim.lr_scheduler.SequentialLR(opt, [first, main(opt)], milestones=[warmup * steps_per_epoch])
    lrs = []
    for _ in range(epochs * steps_per_epoch):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    return torch.tensor(lrs)


def main():
    torch.set_num_threads(1)
    out = {}
    for name in RECIPES:
        run(name, out)
    # The schedules after a warmup of 1 epoch (3 steps each): cosine over the other 3 epochs, and step
    # decay at 50% and 75% of the other 4 (resnetc's `step`: epochs 2 and 3 after the warmup).
    out["lr/cosine"] = warmup_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=9), 4, 1, 3, 0.25)
    out["lr/step"] = warmup_lrs(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[6, 9], gamma=0.1),
                                5, 1, 3, 1 / 3)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recipe_steps.safetensors")
    write_safetensors(path, out, {"torch": torch.__version__})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
