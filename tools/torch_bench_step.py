"""PyTorch CPU reference for tools/bench-step.ts: one torchvision ResNet-18 training step (forward,
cross-entropy, backward, SGD with momentum and weight decay), timed per phase. Prints one JSON line.

    /usr/bin/python3 tools/torch_bench_step.py --threads 2 --batch 16 --size 112 --steps 10 --warmup 3

With --serve it prints "ready", then runs one step per "step" line read from stdin and answers with
one JSON line of phase times (ms), so that a driver can interleave it with its own steps.
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torchvision


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--serve", action="store_true")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=a.classes).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(a.batch, 3, a.size, a.size)
    y = torch.randint(0, a.classes, (a.batch,))

    def step():
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        loss.item()
        return ((t3 - t0) * 1e3, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)

    if a.serve:
        print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
        for line in sys.stdin:
            if line.strip() != "step":
                break
            r = step()
            print(json.dumps({"step_ms": r[0], "forward_ms": r[1], "backward_ms": r[2], "optimizer_ms": r[3]}), flush=True)
        return

    rows = []
    for i in range(a.warmup + a.steps):
        r = step()
        if i >= a.warmup:
            rows.append(r)
    med = lambda k: statistics.median(r[k] for r in rows)
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "step_ms": med(0), "forward_ms": med(1), "backward_ms": med(2), "optimizer_ms": med(3),
        "steps_ms": [round(r[0], 2) for r in rows],
    }))


if __name__ == "__main__":
    main()
