#!/usr/bin/python3
"""torchvision's resnet50 in a realistic eval-mode state, as the reference for the r50 preset's
backbone.onnx (test/graphs/r50.test.ts); run with /usr/bin/python3 (PyTorch 1.13, torchvision 0.14).

    /usr/bin/python3 tools/torch_r50_backbone.py OUT.safetensors [--state realistic|calibrated]
        [--batch 2] [--size 224] [--calib 8] [--seed 0]

Why a special state: with torchvision's init and BN running statistics at their initial 0/1,
eval-mode ResNet-50 activations grow to ~300 and float32 rounding alone exceeds 1e-4, which says
nothing about correctness. Two states:

- `calibrated`: torchvision's init (kaiming-normal convolutions, BN weight 1 / bias 0), then the BN
  running statistics are set the way a trained network has them: every BN gets momentum 1.0 and the
  network runs one training-mode forward on a calibration batch of `calib` random images, which
  sets each running mean/var to that batch's statistics. Activations are O(1) (max ~10), but a
  randomly initialised BN ResNet is chaotic: a perturbation grows ~1.4x per block, so PyTorch's own
  float32 and float64 runs still differ by ~8e-4 at layer4.
- `realistic` (default): as trained ResNets are, the residual branches are scaled down — the last BN
  of each Bottleneck (bn3) gets weight U(0.15, 0.35), every other BN weight U(0.8, 1.2), every BN bias
  N(0, 0.1) — and then the statistics are calibrated as above. Activations stay O(1) (max ~6) and
  float32 vs float64 differ by ~3e-5, so a 1e-4 comparison is meaningful.

OUT receives every parameter and buffer under its torchvision name (num_batches_tracked left out),
`input` (batch, 3, size, size) — random images distinct from the calibration batch — and the eval-mode
outputs `features` (the layer4 map) and `pooled` (its mean over cells) in float32, and
`f64.features`, `f64.pooled` (F64) from the same network run in float64.
"""
import argparse
import copy
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
import torch_safetensors  # noqa: E402


def features_of(model, x):
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    return model.layer4(model.layer3(model.layer2(model.layer1(x))))


def main():
    p = argparse.ArgumentParser()
    p.add_argument('out')
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--calib', type=int, default=8)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--state', choices=['realistic', 'calibrated'], default='realistic')
    a = p.parse_args()
    torch.manual_seed(a.seed)
    model = torchvision.models.resnet50()
    calib = torch.randn(a.calib, 3, a.size, a.size)
    x = torch.randn(a.batch, 3, a.size, a.size)
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                if a.state == 'realistic':
                    if name.endswith('bn3'):
                        m.weight.uniform_(0.15, 0.35)
                    else:
                        m.weight.uniform_(0.8, 1.2)
                    m.bias.normal_(0.0, 0.1)
                m.momentum = 1.0
        model.train()
        features_of(model, calib)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = 0.1
        model.eval()
        exact = copy.deepcopy(model).double().eval()
        out = {}
        for name, t in model.state_dict().items():
            if not name.endswith('num_batches_tracked'):
                out[name] = t.float()
        out['input'] = x
        f = features_of(model, x)
        f64 = features_of(exact, x.double())
        out['features'], out['pooled'] = f, f.mean(dim=(2, 3))
        out['f64.features'], out['f64.pooled'] = f64, f64.mean(dim=(2, 3))
    torch_safetensors.save(a.out, out)
    print(f'torch_r50_backbone: torchvision.models.resnet50 (seed {a.seed}), {a.state} state, BN statistics calibrated on {a.calib} images, '
          f'eval on {a.batch}x3x{a.size}x{a.size}; max |features| {f.abs().max().item():.3f}, '
          f'max |float32 - float64| {(f.double() - f64).abs().max().item():.2e}')


if __name__ == '__main__':
    main()
