"""PyTorch reference for test/foundation/torch-parity.test.ts: an independent implementation of the
small BYOL-style network (torch.nn modules, autograd), run in float64 on the weights and inputs the
TypeScript test wrote.

    /usr/bin/python3 tools/torch_foundation.py in.safetensors out.safetensors

in:  x1, x2 (B, 3, H, W); online.* and target.* parameters and BN buffers, torch names.
out: loss; grad.online.<param> for every online parameter; next.<net>.<bn>.running_mean/var (the
     BN buffers after the forward pass in training mode); p, z.

Network per view: conv1 (3→8, 3×3, pad 1, no bias) → bn1 (BatchNorm2d, train) → relu →
maxpool (3, stride 2, pad 1) → conv2 (8→16, 3×3, stride 2, pad 1, bias) → relu → global average pool →
fc1 (16→32) → bn2 (BatchNorm1d, train) → relu → fc2 (32→8); the online network adds pred (8→8).
Loss (BYOL): mean over the batch of 2 − 2·cos(p, z), p = online(x1), z = target(x2) without grad.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_safetensors  # noqa: E402


class Net(nn.Module):
    def __init__(self, predictor):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=True)
        self.fc1 = nn.Linear(16, 32)
        self.bn2 = nn.BatchNorm1d(32)
        self.fc2 = nn.Linear(32, 8)
        self.pred = nn.Linear(8, 8) if predictor else None

    def forward(self, x):
        h = self.pool(F.relu(self.bn1(self.conv1(x))))
        h = F.relu(self.conv2(h)).mean(dim=(2, 3))
        z = self.fc2(F.relu(self.bn2(self.fc1(h))))
        return self.pred(z) if self.pred is not None else z


def load_net(tensors, prefix, predictor):
    net = Net(predictor).double()
    state = {k[len(prefix) + 1 :]: v.double() for k, v in tensors.items() if k.startswith(prefix + ".")}
    own = net.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise SystemExit(f"torch_foundation: {prefix}: no tensors for {missing}")
    for k in own:
        if k.endswith("num_batches_tracked"):
            state[k] = own[k]
    net.load_state_dict(state, strict=True)
    return net.train()


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: torch_foundation.py in.safetensors out.safetensors")
    torch.use_deterministic_algorithms(True)
    tensors, _ = torch_safetensors.load(sys.argv[1])
    online = load_net(tensors, "online", predictor=True)
    target = load_net(tensors, "target", predictor=False)
    x1 = tensors["x1"].double()
    x2 = tensors["x2"].double()

    p = online(x1)
    with torch.no_grad():
        z = target(x2)
    loss = (2 - 2 * (F.normalize(p, dim=-1) * F.normalize(z, dim=-1)).sum(dim=-1)).mean()
    loss.backward()

    out = {"loss": loss.detach().reshape(()), "p": p.detach(), "z": z}
    for name, param in online.named_parameters():
        out[f"grad.online.{name}"] = param.grad
    for prefix, net in (("online", online), ("target", target)):
        for name, buf in net.named_buffers():
            if not name.endswith("num_batches_tracked"):
                out[f"next.{prefix}.{name}"] = buf
    torch_safetensors.save(sys.argv[2], out, {"torch": torch.__version__})


if __name__ == "__main__":
    main()
