#!/usr/bin/python3
"""Loads `multisiam export` files the way their users do, for test/export (run with /usr/bin/python3).

    torch_export_check.py torchvision IN.safetensors OUT.safetensors STATE [STATE ...]
        STATE is a .pth (torch.load(weights_only=True)) or .safetensors export. Each is loaded into
        the model the export's recipe builds for IN's __metadata__ (depth, width, output_stride):
        torchvision's resnet18/resnet50 at width 1 (layer4 dilated by hand for ResNet-18 at output
        stride 16), tools/torch_resnet.py's RefResNet otherwise; fc = Identity, load_state_dict
        strict=True, eval. OUT receives `features.<i>` (the layer4 map on IN's `input`) and
        `pooled.<i>` for STATE number i. Prints what it loaded as JSON.

    torch_export_check.py keys DEPTH [DEPTH ...]
        Prints torchvision's resnet{DEPTH}() state-dict keys (without fc) with shapes and dtypes,
        as JSON {DEPTH: {key: {shape, dtype}}}.

    torch_export_check.py detectron2 FILE.pkl
        Unpickles FILE with plain pickle (encoding="latin1", as detectron2 does) and numpy only, and
        prints __author__, matching_heuristics and, per array, its shape, dtype and the SHA-256 of
        its bytes. Fails if torch was imported. Runs under any python3 with numpy (1.x or 2.x).
"""
import hashlib
import json
import pickle
import sys


def detectron2(path):
    import numpy as np

    with open(path, "rb") as f:
        obj = pickle.load(f, encoding="latin1")
    assert "torch" not in sys.modules, "unpickling imported torch"
    model = obj["model"]
    arrays = {}
    for k, v in model.items():
        assert isinstance(v, np.ndarray), f"{k} is a {type(v)}, not an ndarray"
        arrays[k] = {"shape": list(v.shape), "dtype": str(v.dtype), "sha256": hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()}
    others = {k: v for k, v in obj.items() if k != "model"}
    print(json.dumps({"numpy": np.__version__, "top": sorted(obj.keys()), "others": others, "arrays": arrays}))


def build(depth, width, output_stride):
    """The model the export's recipe (src/export/torchvision.ts) builds."""
    import torchvision

    if width != 1:
        from torch_resnet import RefResNet

        return RefResNet(depth, width, output_stride, 0)
    if depth == 50:
        return torchvision.models.resnet50(replace_stride_with_dilation=[False, False, output_stride == 16])
    m = torchvision.models.resnet18()
    if output_stride == 16:
        m.layer4[0].conv1.stride = m.layer4[0].downsample[0].stride = (1, 1)
        for c in (m.layer4[1].conv1, m.layer4[1].conv2):
            c.dilation = c.padding = (2, 2)
    return m


def torchvision_check(inp, out, states):
    import collections

    import torch

    import torch_safetensors
    from torch_resnet import features_of

    tensors, meta = torch_safetensors.load(inp)
    x = tensors["input"].float()
    depth, width, output_stride = int(meta["depth"]), float(meta["width"]), int(meta["output_stride"])
    result, loaded = {}, []
    for i, path in enumerate(states):
        if path.endswith(".pth"):
            sd = torch.load(path, weights_only=True)
            kind = type(sd).__name__
            assert isinstance(sd, collections.OrderedDict), f"{path}: torch.load gave a {kind}"
        else:
            sd, _ = torch_safetensors.load(path)
            kind = "dict"
        counters = {k: (v.dtype, tuple(v.shape)) for k, v in sd.items() if k.endswith("num_batches_tracked")}
        assert all(d == torch.int64 and s == () for d, s in counters.values()), f"{path}: num_batches_tracked must be int64 scalars: {counters}"
        m = build(depth, width, output_stride)
        m.fc = torch.nn.Identity()
        m.load_state_dict(sd, strict=True)
        m.eval()
        with torch.no_grad():
            f = features_of(m, x)
            result[f"features.{i}"] = f
            result[f"pooled.{i}"] = f.mean(dim=(2, 3))
        steps = sorted({int(v.item()) for k, v in sd.items() if k.endswith("num_batches_tracked")})
        loaded.append({"path": path, "type": kind, "tensors": len(sd), "model": type(m).__name__, "num_batches_tracked": steps})
    torch_safetensors.save(out, result)
    print(json.dumps(loaded))


def keys(depths):
    import torchvision

    out = {}
    for depth in depths:
        sd = getattr(torchvision.models, f"resnet{depth}")().state_dict()
        out[depth] = {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in sd.items() if not k.startswith("fc.")}
    print(json.dumps(out))


if __name__ == "__main__":
    mode, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 2 else (None, [])
    if mode == "detectron2" and len(args) == 1:
        detectron2(args[0])
    elif mode == "keys":
        keys(args)
    elif mode == "torchvision" and len(args) >= 3:
        torchvision_check(args[0], args[1], args[2:])
    else:
        raise SystemExit(__doc__)
