"""PyTorch reference for `multisiam bench --reference torch`: the same training step as a multisiam
bundle (same model, batch, image size and losses, from the run's config) in eager PyTorch, timed per
phase. Prints one JSON line.

    python3 tools/torch_bench.py CONFIG.json [--steps 20] [--warmup 3] [--device cpu|cuda]
                                 [--threads N] [--tf32]

One step, as multisiam's: uint8 views to the device and normalised (upload); the target network on
both views without gradient (target); per-image cosine K-means of the dense maps, batched on the
device (kmeans: k-means++ seeding and Lloyd iterations; no empty-cluster refill, which is rare and
cheap); online forward, loss and backward (step); LARS or SGD with momentum, the target EMA and the
MoCo queue updates (update). The model and losses are tools/torch_multisiam.py's (the independent
implementation our gradients are checked against), on the device in float32; `--tf32` lets cuDNN and
cuBLAS use TensorFloat-32.
"""
import argparse
import copy
import json
import math
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as Fn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_multisiam as tm  # noqa: E402


def kmeans_targets(maps, k, iters):
    """Each cell's normalised cluster centroid, clusters per image by cosine K-means."""
    B, C, h, w = maps.shape
    n = h * w
    P = Fn.normalize(maps.flatten(2), dim=1, eps=tm.EPS).transpose(1, 2)  # (B,N,C)
    if k >= n:
        return P.transpose(1, 2).reshape(B, C, h, w)
    rows = torch.arange(B, device=maps.device)
    idx = torch.randint(n, (B,), device=maps.device)
    centres = [P[rows, idx]]
    fit = (P @ centres[0].unsqueeze(2)).squeeze(2)
    for _ in range(1, k):
        weight = torch.clamp(1 - fit, min=0) + 1e-12
        idx = torch.multinomial(weight, 1).squeeze(1)
        centres.append(P[rows, idx])
        fit = torch.maximum(fit, (P @ centres[-1].unsqueeze(2)).squeeze(2))
    Cn = torch.stack(centres, 1)  # (B,K,C)
    for _ in range(iters):
        assign = Fn.one_hot((P @ Cn.transpose(1, 2)).argmax(2), k).to(P.dtype)  # (B,N,K)
        Cn = Fn.normalize(assign.transpose(1, 2) @ P, dim=2, eps=tm.EPS)
    return (assign @ Cn).transpose(1, 2).reshape(B, C, h, w)


def lars_step(params, bufs, lr, wd, mu, eta, lars):
    """BYOL's LARS (or SGD with lars=False) over (param, group) pairs, as src/graphs/optimizers.ts."""
    with torch.no_grad():
        for (p, decay), buf in zip(params, bufs):
            d = p.grad + wd * p if decay else p.grad
            if lars and decay:
                pn, dn = p.norm(), d.norm()
                q = torch.where((pn > 0) & (dn > 0), eta * pn / dn, torch.ones_like(pn))
                d = d * q
            buf.mul_(mu).add_(d)
            p.sub_(lr * buf)


def random_boxes(B, gen):
    lo = torch.rand(B, 2, generator=gen) * 0.4
    size = 0.35 + torch.rand(B, 2, generator=gen) * 0.25
    return torch.cat([lo, lo + size], 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('config')
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--threads', type=int, default=0)
    ap.add_argument('--tf32', action='store_true')
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('torch_bench: --device cuda, but this PyTorch sees no CUDA device')
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.backends.cudnn.benchmark = True
    dev = torch.device(a.device)
    with open(a.config) as f:
        raw = json.load(f)
    cfg = tm.Cfg(raw)
    opt = raw['optim']
    B, S = int(raw['train']['batch_size']), int(raw['data']['image_size'])
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)

    net = tm.build(cfg, with_dense=cfg.dense).to(dev).train()
    target = copy.deepcopy(net).train()
    for p in target.parameters():
        p.requires_grad_(False)
    params = [(p, p.dim() > 1) for p in net.parameters()]
    bufs = [torch.zeros_like(p) for p, _ in params]
    lr = float(opt['base_lr']) * B / 256
    mu, wd, eta, lars = float(opt['momentum']), float(opt['weight_decay']), float(opt['trust_coefficient']), opt['name'] == 'lars'
    tau = 0.996
    moco = cfg.framework == 'moco'
    queues = {}
    if moco:
        L = int(raw['moco']['queue_size'])
        queues['queue_global'] = Fn.normalize(torch.randn(L, cfg.proj_dim, device=dev), dim=1)
        if cfg.dense:
            queues['queue_dense'] = Fn.normalize(torch.randn(L, cfg.dense_proj_dim, device=dev), dim=1)
    ptr = 0
    kmeans = cfg.dense and cfg.dense_target == 'kmeans'
    k, iters = int(raw.get('kmeans', {}).get('k', 4)), int(raw.get('kmeans', {}).get('iters', 10))
    views_host = [torch.randint(0, 256, (B, 3, S, S), dtype=torch.uint8, generator=gen) for _ in range(2)]
    if dev.type == 'cuda':
        views_host = [v.pin_memory() for v in views_host]
    host = {'flip1': (torch.rand(B, generator=gen) < 0.5).float(), 'flip2': (torch.rand(B, generator=gen) < 0.5).float(),
            'boxes1': random_boxes(B, gen), 'boxes2': random_boxes(B, gen), 'dense_weight': torch.ones(B)}
    mean = torch.tensor(cfg.mean, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, device=dev).view(1, 3, 1, 1)

    def sync():
        if dev.type == 'cuda':
            torch.cuda.synchronize()

    def step():
        nonlocal ptr
        t = [time.perf_counter()]
        d = {k2: v.to(dev, non_blocking=True) for k2, v in host.items()}
        for i, v in enumerate(views_host):
            d[f'view{i + 1}'] = (v.to(dev, non_blocking=True).float() / 255 - mean) / std
        d.update(queues)
        sync()
        t.append(time.perf_counter())
        tgt = tm.target_outputs(target, cfg, d)
        sync()
        t.append(time.perf_counter())
        for v, o in ((1, 2), (2, 1)):  # target_*v: the other view's target, supervising view v
            d[f'target_z{v}'] = tgt[f'z{o}']
            if cfg.dense:
                d[f'target_dense{v}'] = kmeans_targets(tgt[f'dense{o}'], k, iters) if kmeans else tgt[f'dense{o}']
        sync()
        t.append(time.perf_counter())
        for p, _ in params:
            p.grad = None
        loss, _, _ = tm.compute_loss(net, cfg, d)
        loss.backward()
        sync()
        t.append(time.perf_counter())
        lars_step(params, bufs, lr, wd, mu, eta, lars)
        with torch.no_grad():
            tp, op = list(target.parameters()), list(net.parameters())
            torch._foreach_mul_(tp, tau)
            torch._foreach_add_(tp, op, alpha=1 - tau)
            tb = [b for b in target.buffers() if b.is_floating_point()]
            ob = [b for b in net.buffers() if b.is_floating_point()]
            torch._foreach_mul_(tb, tau)
            torch._foreach_add_(tb, ob, alpha=1 - tau)
            if moco:
                rows = (ptr + torch.arange(2 * B, device=dev)) % queues['queue_global'].shape[0]
                queues['queue_global'][rows] = Fn.normalize(torch.cat([tgt['z1'], tgt['z2']]), dim=1)
                if cfg.dense:
                    pooled = torch.cat([tgt['dense1'].mean((2, 3)), tgt['dense2'].mean((2, 3))])
                    queues['queue_dense'][rows] = Fn.normalize(pooled, dim=1)
                ptr = (ptr + 2 * B) % queues['queue_global'].shape[0]
        sync()
        t.append(time.perf_counter())
        return {name: 1000 * (t[i + 1] - t[i]) for i, name in enumerate(['upload', 'target', 'kmeans', 'step', 'update'])} | {'total': 1000 * (t[-1] - t[0])}

    for _ in range(a.warmup):
        step()
    if dev.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    runs = [step() for _ in range(a.steps)]
    med = {name: statistics.median(r[name] for r in runs) for name in runs[0]}
    peak = torch.cuda.max_memory_allocated() if dev.type == 'cuda' else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({
        'torch': torch.__version__, 'device': str(dev), 'dtype': 'tf32' if a.tf32 else 'fp32', 'threads': torch.get_num_threads(),
        'steps': a.steps, 'median_ms': med, 'min_total_ms': min(r['total'] for r in runs),
        'pairs_per_s': B / (med['total'] / 1000), 'peak_memory_bytes': peak,
        'gpu': torch.cuda.get_device_name(0) if dev.type == 'cuda' else None,
    }))


if __name__ == '__main__':
    main()
