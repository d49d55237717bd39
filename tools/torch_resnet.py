#!/usr/bin/python3
"""PyTorch reference for src/graphs/resnet.ts (run with /usr/bin/python3: PyTorch 1.13, torchvision 0.14).

    /usr/bin/python3 tools/torch_resnet.py IN.safetensors OUT.safetensors

IN holds `input` (B, 3, H, W) float32 and every parameter and buffer by its torchvision name; its
__metadata__ gives depth (18|50), width, output_stride (16|32), mode (eval|train) and classes (0 = no fc).
OUT receives `features` (the layer4 map), `pooled`, `logits` (when classes > 0) and, in train mode,
`next.<bn>.running_mean` / `next.<bn>.running_var` for every BN after the forward pass; each of
these also as `f64.<name>`, from the same network run in float64 (the conditioning baseline).

The reference network is torchvision's own `resnet18` / `resnet50` wherever torchvision can build the
configuration (width 1; output stride 16 only for ResNet-50, through replace_stride_with_dilation).
Width-scaled networks and dilated BasicBlocks are not torchvision presets, so `RefResNet` below
writes them out in PyTorch following SPEC §2.9 (every channel count c → round(c·w), halves up; both 3×3
convs of a dilated BasicBlock use dilation and padding d). `--selfcheck` shows RefResNet equals
torchvision on the configurations torchvision has.

safetensors goes through tools/torch_safetensors.py (the Debian python3-torch has no safetensors module).
"""
import copy
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision

import torch_safetensors

def scaled(c, w):
    """round(c·w) with halves rounded up, at least 1 (SPEC §2.9)."""
    return max(1, int(np.floor(c * w + 0.5)))


def conv_bn(cin, cout, k, stride=1, padding=0, dilation=1):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=padding, dilation=dilation, bias=False), nn.BatchNorm2d(cout)


class RefBasic(nn.Module):
    def __init__(self, cin, cout, stride, dilation, downsample):
        super().__init__()
        self.conv1, self.bn1 = conv_bn(cin, cout, 3, stride, dilation, dilation)
        self.conv2, self.bn2 = conv_bn(cout, cout, 3, 1, dilation, dilation)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu(out + identity)


class RefBottleneck(nn.Module):
    def __init__(self, cin, inner, cout, stride, dilation, downsample):
        super().__init__()
        self.conv1, self.bn1 = conv_bn(cin, inner, 1)
        self.conv2, self.bn2 = conv_bn(inner, inner, 3, stride, dilation, dilation)  # v1.5: stride on the 3x3
        self.conv3, self.bn3 = conv_bn(inner, cout, 1)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu(out + identity)


class RefResNet(nn.Module):
    """torchvision's ResNet layout with a width multiplier and optional dilated layer4."""

    def __init__(self, depth, width, output_stride, classes):
        super().__init__()
        blocks = {18: [2, 2, 2, 2], 50: [3, 4, 6, 3]}[depth]
        expansion = 1 if depth == 18 else 4
        c = lambda n: scaled(n, width)
        self.inplanes = c(64)
        self.conv1 = nn.Conv2d(3, self.inplanes, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        dilation = 1
        for i, planes in enumerate([64, 128, 256, 512]):
            stride = 1 if i == 0 else 2
            previous = dilation
            if i == 3 and output_stride == 16:
                dilation *= stride
                stride = 1
            out, inner = c(planes * expansion), c(planes)
            layers = []
            for b in range(blocks[i]):
                s, d = (stride, previous) if b == 0 else (1, dilation)
                down = None
                if s != 1 or self.inplanes != out:
                    down = nn.Sequential(*conv_bn(self.inplanes, out, 1, s))
                if depth == 18:
                    layers.append(RefBasic(self.inplanes, out, s, d, down))
                else:
                    layers.append(RefBottleneck(self.inplanes, inner, out, s, d, down))
                self.inplanes = out
            setattr(self, f'layer{i + 1}', nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.inplanes, classes) if classes > 0 else None

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def torchvision_model(depth, width, output_stride, classes):
    """torchvision's own network where it exists for this configuration, else None."""
    if width != 1 or classes <= 0:
        return None
    if depth == 18 and output_stride == 32:
        return torchvision.models.resnet18(num_classes=classes)
    if depth == 50:
        return torchvision.models.resnet50(num_classes=classes, replace_stride_with_dilation=[False, False, output_stride == 16])
    return None


def features_of(model, x):
    """The layer4 map of either network (torchvision's forward returns only the logits)."""
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    return model.layer4(model.layer3(model.layer2(model.layer1(x))))


def load(model, tensors):
    state = model.state_dict()
    missing = [k for k in state if k not in tensors and not k.endswith('num_batches_tracked')]
    extra = [k for k in tensors if k != 'input' and k not in state]
    if missing or extra:
        raise SystemExit(f'torch_resnet: parameter names differ from the reference: missing {missing[:8]}, unexpected {extra[:8]}')
    for k, v in state.items():
        if k in tensors:
            if tuple(tensors[k].shape) != tuple(v.shape):
                raise SystemExit(f'torch_resnet: {k} has shape {tuple(tensors[k].shape)}, the reference expects {tuple(v.shape)}')
            v.copy_(tensors[k].to(v.dtype))


def forward(model, x, mode):
    """Outputs of one network on x (its running statistics move in train mode)."""
    model.train(mode == 'train')
    feats = features_of(model, x)
    pooled = torch.flatten(model.avgpool(feats), 1)
    out = {'features': feats, 'pooled': pooled}
    if getattr(model, 'fc', None) is not None:
        out['logits'] = model.fc(pooled)
    if mode == 'train':
        for name, buf in model.named_buffers():
            if name.endswith('running_mean') or name.endswith('running_var'):
                out['next.' + name] = buf
    return out


def run(tensors, meta):
    depth, width = int(meta['depth']), float(meta['width'])
    output_stride, classes, mode = int(meta['output_stride']), int(meta.get('classes', '0')), meta['mode']
    torch.manual_seed(0)
    model = torchvision_model(depth, width, output_stride, classes) or RefResNet(depth, width, output_stride, classes)
    with torch.no_grad():
        load(model, tensors)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum, m.eps = 0.1, 1e-5
        x = tensors['input'].float()
        # The same network in float64: how far float32 itself is from exact for these weights.
        exact = copy.deepcopy(model).double()
        out = forward(model, x, mode)
        for k, v in forward(exact, x.double(), mode).items():
            out['f64.' + k] = v
    return out, type(model).__module__ + '.' + type(model).__name__


def selfcheck():
    """RefResNet equals torchvision's network on the configurations torchvision has."""
    for depth, os_ in [(18, 32), (50, 32), (50, 16)]:
        tv = torchvision_model(depth, 1, os_, 10)
        ref = RefResNet(depth, 1, os_, 10)
        ref.load_state_dict(tv.state_dict())
        tv.eval(), ref.eval()
        x = torch.randn(2, 3, 64, 64)
        with torch.no_grad():
            d = (features_of(tv, x) - features_of(ref, x)).abs().max().item()
        print(f'resnet{depth} os{os_}: max |torchvision − RefResNet| = {d:.3e}')
        assert d == 0.0


if __name__ == '__main__':
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if len(sys.argv) == 2 and sys.argv[1] == '--selfcheck':
        selfcheck()
        sys.exit(0)
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    tensors, meta = torch_safetensors.load(sys.argv[1])
    out, used = run(tensors, meta)
    torch_safetensors.save(sys.argv[2], {k: v.float() for k, v in out.items()})
    print(f'torch_resnet: {used}, {meta}, outputs {sorted(k for k in out if "." not in k)}')
