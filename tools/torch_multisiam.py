#!/usr/bin/python3
"""Independent PyTorch reference for the MultiSiam online loss and its gradients (SPEC §2, §2.9).

Run with Debian's PyTorch 1.13 / torchvision 0.14:

    /usr/bin/python3 tools/torch_multisiam.py IN.safetensors CONFIG.json OUT.safetensors [--float32] [--normalised-views] [--perturb-views]
    /usr/bin/python3 tools/torch_multisiam.py --selftest

IN.safetensors
    Online parameters and BN buffers by their PyTorch names: the backbone with torchvision ResNet names
    (`conv1.weight`, `bn1.*`, `layer1.0.conv1.weight`, …, no `fc`, no `num_batches_tracked`), then
    `projector.{0,1,3}.*`, `predictor.{0,1,3}.*` (BYOL framework only), `dense_projector.{0,1,3}.*`,
    `dense_predictor.{0,1,3}.*` (BYOL framework only). Index 0 = Linear / 1×1 conv (with bias),
    1 = BatchNorm (weight, bias, running_mean, running_var), 3 = Linear / 1×1 conv (with bias).
    Data: `view1`, `view2` (B,3,H,W) RGB pixel values 0..255 (the graphs take them as uint8 and
    normalise as (x/255 − data.mean)/data.std, and so does this reference); `flip1`, `flip2` (B) 0/1; `boxes1`, `boxes2` (B,4) normalised
    (x1,y1,x2,y2); `dense_weight` (B) 0/1; `target_z1`, `target_z2` (B,proj_dim); `target_dense1`,
    `target_dense2` (B,dense_proj_dim,g,g) (g = h for offset alignment, roi_size for RoI); `target_*v` is
    the target network's output for the OTHER view and supervises online view v (the bundle's convention);
    MoCo only: `queue_global` (L,proj_dim), `queue_dense` (L,dense_proj_dim).
    Any of F32/F64/I64 is accepted for every tensor.
CONFIG.json
    The resolved config (snake_case, nested: data.*, backbone.*, heads.*, attention.*, loss.*, moco.*,
    train.*); a top-level {"config": {...}} wrapper is also accepted.
OUT.safetensors (all float32)
    `loss`, `loss_global`, `loss_dense` (shape []) and `grad.<name>` for every parameter of IN
    (not for buffers). A parameter that does not take part in the loss (e.g. dense heads under
    `method: byol`) gets an all-zero gradient.

Precision: parameters and inputs are promoted to float64 and everything (forward and autograd
backward) runs in float64; results are cast to float32 when written. `--float32` runs in float32.
`--normalised-views` takes `view1`, `view2` as already normalised images (for a cross-check that
feeds both sides the exact float32 inputs the graphs compute from the uint8 views).
`--perturb-views` multiplies every view pixel and crop-box coordinate by 1 ± 2⁻²³ (one float32 ulp,
seeded random signs) before computing: how much each gradient moves then is its float32 noise floor.

What is computed (one training step, online side; targets are given and carry no gradient):
  * each view is its own forward pass in training mode (BN over that view's B images only; both views
    reuse the same modules); F = layer4 map (B,C,h,w); z = projector(mean over cells of F);
    p = predictor(z);
  * BYOL framework: D = dense_projector(F), flipped back (horizontal flip of the map where flip=1);
    offset alignment: R = D, x = cat(R, ΔC) with ΔC = (Δx, Δy) = centre of the other view's cell (i,j)
    − centre of this view's cell (i,j), normalised image coordinates, no gradient;
    RoI alignment: R = roi_align(D, intersection box in this view's feature coordinates, S,
    spatial_scale=1, sampling_ratio=1, aligned=True) (each view's own full box when the two crops do
    not intersect), x = R;
    Q(i) = Σ_i' sim(R(i),R(i'))·q(x)(i') (+ q(x)(i) if attention.residual), q = dense_predictor;
    L_global = Σ_v mean_b (2 − 2cos(p_v, z'_other)); dense per pair ℓ_b = mean_cells (2 − 2cos(Q_v, T))
    (−cos for dense_target=features) with T = target_dense_v; direction = Σ w_b ℓ_b / max(1, Σ w_b);
  * MoCo framework (RoI only): R = roi_align(flip-back(F)); G = Σ sim(R,R')·g(R) (+ g(R) if residual)
    with g = dense_projector; global = InfoNCE(normalize(z_v); normalize(target_z_v); queue_global),
    plain mean over pairs; dense = per-cell InfoNCE(normalize(G_v); normalize(target_dense_v);
    queue_dense), per-pair mean over cells, then the w_b reduction; τ = moco.temperature;
    cross-entropy with the positive first; queues used as given;
  * loss = w_global·L_global + w_dense·L_dense; `method: byol` → L_dense = 0.

The backbone is `RefResNet` of tools/torch_resnet.py (torchvision's layout, width multiplier, dilated
last stage for output stride 16; its --selfcheck shows it equals torchvision where torchvision has the
configuration). safetensors I/O is tools/torch_safetensors.py.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as Fn
from torchvision.ops import roi_align

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_safetensors  # noqa: E402
from torch_resnet import RefResNet  # noqa: E402

DATA_NAMES = {
    'view1', 'view2', 'flip1', 'flip2', 'boxes1', 'boxes2', 'dense_weight', 'target_z1', 'target_z2',
    'target_dense1', 'target_dense2', 'queue_global', 'queue_dense',
}
EPS = 1e-12  # a / max(|a|, 1e-12), as F.normalize


# ----------------------------------------------------------------------------------------------- config

class Cfg:
    """Flat view over the nested config with the fields this reference uses."""

    def __init__(self, raw):
        if 'config' in raw and isinstance(raw['config'], dict) and 'backbone' not in raw:
            raw = raw['config']
        self.raw = raw

        def get(path, default=None):
            node = raw
            for key in path.split('.'):
                if not isinstance(node, dict) or key not in node:
                    if default is None:
                        raise SystemExit(f'torch_multisiam: config field `{path}` is missing')
                    return default
                node = node[key]
            return node

        self.method = get('method', 'multisiam')
        self.framework = get('framework', 'byol')
        self.alignment = get('alignment', 'offset')
        self.dense_target = get('dense_target', 'kmeans')
        self.image_size = get('data.image_size', 0)
        self.mean = [float(m) for m in get('data.mean', [0.485, 0.456, 0.406])]
        self.std = [float(d) for d in get('data.std', [0.229, 0.224, 0.225])]
        self.roi_size = int(get('data.roi_size', 7))
        arch = str(get('backbone.arch'))
        if arch not in ('resnet18', 'resnet50'):
            raise SystemExit(f'torch_multisiam: backbone.arch `{arch}` is not resnet18|resnet50')
        self.depth = 18 if arch == 'resnet18' else 50
        self.width = float(get('backbone.width', 1.0))
        self.output_stride = int(get('backbone.output_stride', 32))
        h = 'heads.'
        self.proj_hidden, self.proj_dim = int(get(h + 'proj_hidden')), int(get(h + 'proj_dim'))
        self.pred_hidden = int(get(h + 'pred_hidden'))
        self.dense_proj_hidden, self.dense_proj_dim = int(get(h + 'dense_proj_hidden')), int(get(h + 'dense_proj_dim'))
        self.dense_pred_hidden = int(get(h + 'dense_pred_hidden'))
        self.sim = get('attention.sim', 'cos-pow')
        self.gamma = float(get('attention.gamma', 2.0))
        self.residual = bool(get('attention.residual', False))
        self.w_global = float(get('loss.w_global', 1.0))
        self.w_dense = float(get('loss.w_dense', 1.0))
        self.temperature = float(get('moco.temperature', 0.2))
        self.batch_size = int(get('train.batch_size', 0))
        for name, value, allowed in [('method', self.method, ('multisiam', 'byol')),
                                     ('framework', self.framework, ('byol', 'moco')),
                                     ('alignment', self.alignment, ('offset', 'roi')),
                                     ('dense_target', self.dense_target, ('kmeans', 'features')),
                                     ('attention.sim', self.sim, ('cos-pow', 'softmax'))]:
            if value not in allowed:
                raise SystemExit(f'torch_multisiam: config `{name}` = {value!r}, expected one of {allowed}')
        if self.output_stride not in (16, 32):
            raise SystemExit(f'torch_multisiam: backbone.output_stride = {self.output_stride}, expected 16 or 32')
        if self.framework == 'moco' and self.alignment != 'roi' and self.method == 'multisiam':
            raise SystemExit('torch_multisiam: framework `moco` is defined with RoI alignment only (SPEC §2.7)')

    @property
    def dense(self):
        return self.method == 'multisiam'


# ------------------------------------------------------------------------------------------------ model

def mlp1d(cin, hidden, cout):
    return nn.Sequential(nn.Linear(cin, hidden), nn.BatchNorm1d(hidden, eps=1e-5, momentum=0.1), nn.ReLU(),
                         nn.Linear(hidden, cout))


def mlp2d(cin, hidden, cout):
    return nn.Sequential(nn.Conv2d(cin, hidden, 1), nn.BatchNorm2d(hidden, eps=1e-5, momentum=0.1), nn.ReLU(),
                         nn.Conv2d(hidden, cout, 1))


def build(cfg, with_dense):
    """RefResNet (torchvision names at top level) with the heads attached as attributes, so that
    state_dict names are exactly the names of IN.safetensors."""
    net = RefResNet(cfg.depth, cfg.width, cfg.output_stride, 0)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps, m.momentum = 1e-5, 0.1
    C = net.inplanes
    net.projector = mlp1d(C, cfg.proj_hidden, cfg.proj_dim)
    if cfg.framework == 'byol':
        net.predictor = mlp1d(cfg.proj_dim, cfg.pred_hidden, cfg.proj_dim)
    if with_dense:
        if cfg.framework == 'byol':
            net.dense_projector = mlp2d(C, cfg.dense_proj_hidden, cfg.dense_proj_dim)
            extra = 2 if cfg.alignment == 'offset' else 0
            net.dense_predictor = mlp2d(cfg.dense_proj_dim + extra, cfg.dense_pred_hidden, cfg.dense_proj_dim)
        else:
            net.dense_projector = mlp2d(C, cfg.dense_proj_hidden, cfg.dense_proj_dim)
    net.channels = C
    return net


def load_params(net, tensors, dtype):
    net.to(dtype)  # before state_dict(): .to() swaps the storage the state_dict tensors would point to
    state = net.state_dict()
    wanted = {k for k in state if not k.endswith('num_batches_tracked')}
    given = {k for k in tensors if k not in DATA_NAMES}
    missing, extra = sorted(wanted - given), sorted(given - wanted)
    if missing or extra:
        raise SystemExit(f'torch_multisiam: parameter names differ from the reference: missing {missing[:8]}'
                         f'{" …" if len(missing) > 8 else ""}, unexpected {extra[:8]}{" …" if len(extra) > 8 else ""}')
    with torch.no_grad():
        for k in wanted:
            if tuple(tensors[k].shape) != tuple(state[k].shape):
                raise SystemExit(f'torch_multisiam: {k} has shape {tuple(tensors[k].shape)}, '
                                 f'the reference expects {tuple(state[k].shape)}')
            state[k].copy_(tensors[k].to(dtype))
        live = net.state_dict()  # guard: the module really holds the given values
        bad = [k for k in wanted if live[k].dtype != dtype or not torch.equal(live[k], tensors[k].to(dtype))]
        if bad:
            raise SystemExit(f'torch_multisiam: internal error, parameters not loaded: {bad[:4]}')
    net.train(True)


# ---------------------------------------------------------------------------------------------- pieces

def flip_back(m, flip):
    """Horizontal flip of the maps whose view was flipped (flip: (B,) 0/1)."""
    f = (flip > 0.5).view(-1, 1, 1, 1)
    return torch.where(f, m.flip(-1), m)


def cell_centres(boxes, h, w):
    """(B,2,h,w): normalised original-image (x, y) of each cell centre of an h×w map over the box."""
    x1, y1, x2, y2 = boxes.unbind(1)
    j = (torch.arange(w, dtype=boxes.dtype, device=boxes.device) + 0.5) / w
    i = (torch.arange(h, dtype=boxes.dtype, device=boxes.device) + 0.5) / h
    cx = x1[:, None] + j[None, :] * (x2 - x1)[:, None]  # (B,w)
    cy = y1[:, None] + i[None, :] * (y2 - y1)[:, None]  # (B,h)
    return torch.stack([cx[:, None, :].expand(-1, h, -1), cy[:, :, None].expand(-1, -1, w)], 1)


def offset_map(boxes_self, boxes_other, h, w):
    """ΔC for the online view: centre of the other view's cell − centre of this view's cell."""
    return (cell_centres(boxes_other, h, w) - cell_centres(boxes_self, h, w)).detach()


def roi_regions(boxes1, boxes2):
    """Per pair: the intersection box, or each view's own box when the crops do not intersect
    (zero-area touching counts as not intersecting). Returns (region for view 1, region for view 2)."""
    ix1 = torch.maximum(boxes1[:, 0], boxes2[:, 0])
    iy1 = torch.maximum(boxes1[:, 1], boxes2[:, 1])
    ix2 = torch.minimum(boxes1[:, 2], boxes2[:, 2])
    iy2 = torch.minimum(boxes1[:, 3], boxes2[:, 3])
    inter = torch.stack([ix1, iy1, ix2, iy2], 1)
    ok = ((ix2 > ix1) & (iy2 > iy1))[:, None]
    return torch.where(ok, inter, boxes1), torch.where(ok, inter, boxes2)


def to_feature_coords(region, box, h, w):
    """Normalised original-image region → (x1,y1,x2,y2) in the view's h×w feature coordinates."""
    bw, bh = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
    u1 = (region[:, 0] - box[:, 0]) / bw * w
    u2 = (region[:, 2] - box[:, 0]) / bw * w
    v1 = (region[:, 1] - box[:, 1]) / bh * h
    v2 = (region[:, 3] - box[:, 1]) / bh * h
    return torch.stack([u1, v1, u2, v2], 1)


def roi(m, region, box, S):
    B, _, h, w = m.shape
    fc = to_feature_coords(region, box, h, w).to(m.dtype)
    rois = torch.cat([torch.arange(B, dtype=m.dtype, device=m.device)[:, None], fc], 1).detach()
    return roi_align(m, rois, output_size=(S, S), spatial_scale=1.0, sampling_ratio=1, aligned=True)


def attention(R, v, cfg):
    """Σ_i' sim(R(i), R(i'))·v(i') (+ v(i) if residual). R (B,d,g,g), v (B,c,g,g) → (B,c,g,g)."""
    B, d, gh, gw = R.shape
    Rf = R.flatten(2).transpose(1, 2)  # (B,N,d)
    vf = v.flatten(2).transpose(1, 2)  # (B,N,c)
    if cfg.sim == 'cos-pow':
        Rn = Fn.normalize(Rf, dim=-1, eps=EPS)
        A = torch.clamp(Rn @ Rn.transpose(1, 2), min=0).pow(cfg.gamma)
    else:
        A = torch.softmax(Rf @ Rf.transpose(1, 2) / math.sqrt(d), dim=-1)
    out = A @ vf
    if cfg.residual:
        out = out + vf
    return out.transpose(1, 2).reshape(B, v.shape[1], gh, gw)


def cos_cells(a, b):
    """cos over channels, per cell: (B,c,g,g) × (B,c,g,g) → (B,N)."""
    return (Fn.normalize(a.flatten(2), dim=1, eps=EPS) * Fn.normalize(b.flatten(2), dim=1, eps=EPS)).sum(1)


def weighted(per_pair, w):
    return (w * per_pair).sum() / torch.clamp(w.sum(), min=1.0)


def info_nce(q, k, queue, tau):
    """q, k (...,D) already normalised; queue (L,D) as given. Returns −log softmax of the positive."""
    pos = (q * k).sum(-1, keepdim=True)
    neg = q @ queue.t()
    logits = torch.cat([pos, neg], -1) / tau
    return torch.logsumexp(logits, -1) - logits[..., 0]


# ---------------------------------------------------------------------------------------------- loss

def target_outputs(net, cfg, d):
    """The target forward (no gradient): z' of each view and, for the dense methods, its aligned
    dense map (the map K-means clusters): {'z1', 'z2', 'dense1', 'dense2'}."""
    out = {}
    with torch.no_grad():
        views = {v: view_forward(net, d[f'view{v}']) for v in (1, 2)}
        for v in (1, 2):
            out[f'z{v}'] = views[v][1]
        if cfg.dense:
            if cfg.alignment == 'roi':
                reg1, reg2 = roi_regions(d['boxes1'], d['boxes2'])
                regions = {1: reg1, 2: reg2}
            for v in (1, 2):
                F = views[v][0]
                if cfg.framework == 'byol':
                    D = flip_back(net.dense_projector(F), d[f'flip{v}'])
                    out[f'dense{v}'] = D if cfg.alignment == 'offset' else roi(D, regions[v], d[f'boxes{v}'], cfg.roi_size)
                else:
                    out[f'dense{v}'] = net.dense_projector(roi(flip_back(F, d[f'flip{v}']), regions[v], d[f'boxes{v}'], cfg.roi_size))
    return out


def view_forward(net, x):
    F = net(x)  # RefResNet.forward → layer4 map (B,C,h,w)
    return F, net.projector(F.mean((2, 3)))


def compute_loss(net, cfg, d, keep=None):
    """d: dict of data tensors (in the compute dtype). Returns (loss, loss_global, loss_dense).
    keep: optional dict filled with intermediates (for the self-test)."""
    views = {}
    for v in (1, 2):
        F, z = view_forward(net, d[f'view{v}'])
        views[v] = (F, z)
    B, _, h, w = views[1][0].shape
    other = {1: 2, 2: 1}
    w_b = d['dense_weight']

    # global term
    lg = 0
    for v in (1, 2):
        z = views[v][1]
        zt = d[f'target_z{v}']
        if cfg.framework == 'byol':
            p = net.predictor(z)
            c = (Fn.normalize(p, dim=1, eps=EPS) * Fn.normalize(zt, dim=1, eps=EPS)).sum(1)
            term = (2 - 2 * c).mean()
        else:
            p = z
            qn = Fn.normalize(z, dim=1, eps=EPS)
            kn = Fn.normalize(zt, dim=1, eps=EPS)
            term = info_nce(qn, kn, d['queue_global'], cfg.temperature).mean()
        lg = lg + term
        if keep is not None:
            keep[f'p{v}'], keep[f'global{v}'] = p, term

    ld = torch.zeros((), dtype=views[1][0].dtype, device=views[1][0].device)
    if cfg.dense:
        if cfg.alignment == 'roi':
            reg1, reg2 = roi_regions(d['boxes1'], d['boxes2'])
            regions = {1: reg1, 2: reg2}
        for v in (1, 2):
            F = views[v][0]
            T = d[f'target_dense{v}']
            if cfg.framework == 'byol':
                D = flip_back(net.dense_projector(F), d[f'flip{v}'])
                if cfg.alignment == 'offset':
                    R = D
                    x = torch.cat([R, offset_map(d[f'boxes{v}'], d[f'boxes{other[v]}'], h, w).to(R.dtype)], 1)
                else:
                    R = roi(D, regions[v], d[f'boxes{v}'], cfg.roi_size)
                    x = R
                qx = net.dense_predictor(x)
                Q = attention(R, qx, cfg)
                if T.shape[2:] != Q.shape[2:]:
                    raise SystemExit(f'torch_multisiam: target_dense{v} has grid {tuple(T.shape[2:])}, '
                                     f'the online prediction has {tuple(Q.shape[2:])}')
                c = cos_cells(Q, T)
                per_cell = -c if cfg.dense_target == 'features' else 2 - 2 * c
                term = weighted(per_cell.mean(1), w_b)
                ld = ld + term
                if keep is not None:
                    keep[f'dense{v}'] = term
                    keep[f'D{v}'], keep[f'R{v}'], keep[f'x{v}'], keep[f'Q{v}'] = D, R, x, Q
            else:
                Fb = flip_back(F, d[f'flip{v}'])
                R = roi(Fb, regions[v], d[f'boxes{v}'], cfg.roi_size)
                G = attention(R, net.dense_projector(R), cfg)
                if T.shape[2:] != G.shape[2:]:
                    raise SystemExit(f'torch_multisiam: target_dense{v} has grid {tuple(T.shape[2:])}, '
                                     f'the online projection has {tuple(G.shape[2:])}')
                Gn = Fn.normalize(G.flatten(2), dim=1, eps=EPS).transpose(1, 2)  # (B,N,D)
                Kn = Fn.normalize(T.flatten(2), dim=1, eps=EPS).transpose(1, 2)
                per_cell = info_nce(Gn, Kn, d['queue_dense'], cfg.temperature)  # (B,N)
                term = weighted(per_cell.mean(1), w_b)
                ld = ld + term
                if keep is not None:
                    keep[f'dense{v}'] = term
                    keep[f'F{v}'], keep[f'R{v}'], keep[f'G{v}'] = Fb, R, G
    loss = cfg.w_global * lg + (cfg.w_dense * ld if cfg.dense else 0)
    return loss, lg, ld


def data_tensors(tensors, cfg, dtype, normalise=True, perturb=False, names=DATA_NAMES):
    """The data inputs among `names` in the compute dtype, the views normalised from 0..255 as the
    graphs do (and moved by one float32 ulp with `perturb`). cfg needs `mean` and `std`."""
    data = {k: tensors[k].to(dtype) for k in names if k in tensors}
    if perturb:
        gen = torch.Generator().manual_seed(0)
        # The views, and the crop boxes the alignment inputs come from (the graphs get those as float32).
        for v in ('view1', 'view2', 'boxes1', 'boxes2'):
            if v in data:
                sign = torch.randint(0, 2, data[v].shape, generator=gen).to(dtype) * 2 - 1
                data[v] = data[v] * (1 + sign * 2.0 ** -23)
    if not normalise:
        return data
    device = tensors['view1'].device
    mean = torch.tensor(cfg.mean, dtype=dtype, device=device).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, dtype=dtype, device=device).view(1, 3, 1, 1)
    for v in ('view1', 'view2'):
        data[v] = (data[v] / 255 - mean) / std
    return data


def run(tensors, cfg, dtype=torch.float64, normalise=True, perturb=False):
    present_dense = any(k.startswith(('dense_projector.', 'dense_predictor.')) for k in tensors)
    net = build(cfg, with_dense=cfg.dense or present_dense)
    load_params(net, tensors, dtype)
    need = ['view1', 'view2', 'flip1', 'flip2', 'boxes1', 'boxes2', 'dense_weight', 'target_z1', 'target_z2']
    if cfg.dense:
        need += ['target_dense1', 'target_dense2']
        if cfg.framework == 'moco':
            need += ['queue_dense']
    if cfg.framework == 'moco':
        need += ['queue_global']
    lacking = [k for k in need if k not in tensors]
    if lacking:
        raise SystemExit(f'torch_multisiam: IN lacks input tensors {lacking}')
    data = data_tensors(tensors, cfg, dtype, normalise, perturb)
    B = data['view1'].shape[0]
    if cfg.batch_size and cfg.batch_size != B:
        print(f'torch_multisiam: note: train.batch_size = {cfg.batch_size} but the views hold {B} images; using {B}',
              file=sys.stderr)
    if cfg.image_size and tuple(data['view1'].shape[2:]) != (int(cfg.image_size), int(cfg.image_size)):
        print(f'torch_multisiam: note: data.image_size = {cfg.image_size} but view1 is {tuple(data["view1"].shape[2:])}',
              file=sys.stderr)
    params = dict(net.named_parameters())
    net.zero_grad(set_to_none=False)
    for p in params.values():
        p.grad = torch.zeros_like(p)
    loss, lg, ld = compute_loss(net, cfg, data)
    loss.backward()
    out = {'loss': loss.detach(), 'loss_global': torch.as_tensor(lg).detach(), 'loss_dense': ld.detach()}
    for name, p in params.items():
        out['grad.' + name] = p.grad.detach()
    return {k: v.to(torch.float32).reshape(v.shape) for k, v in out.items()}


# ----------------------------------------------------------------------------------------------- selftest

def tiny_cfg(**over):
    raw = {
        'method': 'multisiam', 'framework': 'byol', 'alignment': 'offset', 'dense_target': 'kmeans',
        'data': {'image_size': 64, 'roi_size': 4},
        'backbone': {'arch': 'resnet18', 'width': 0.25, 'output_stride': 16},
        'heads': {'proj_hidden': 32, 'proj_dim': 16, 'pred_hidden': 32, 'dense_proj_hidden': 32,
                  'dense_proj_dim': 16, 'dense_pred_hidden': 32},
        'attention': {'sim': 'cos-pow', 'gamma': 2.0, 'residual': False},
        'loss': {'w_global': 1.0, 'w_dense': 1.0}, 'moco': {'temperature': 0.2}, 'train': {'batch_size': 4},
    }
    for path, value in over.items():
        node = raw
        keys = path.split('.')
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return Cfg(raw)


def random_inputs(cfg, gen, B=4):
    """Random parameters (non-trivial BN affine and running stats) and data, float64."""
    net = build(cfg, with_dense=True).double()
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith('num_batches_tracked'):
                continue
            if name.endswith('running_var'):
                t.copy_(0.5 + torch.rand(t.shape, generator=gen, dtype=t.dtype))
            elif name.endswith('running_mean'):
                t.copy_(0.1 * torch.randn(t.shape, generator=gen, dtype=t.dtype))
            elif t.dim() == 1 and ('bn' in name or 'downsample.1' in name or name.split('.')[-2] == '1'):
                base = 1.0 if name.endswith('weight') else 0.0
                t.copy_(base + 0.2 * torch.randn(t.shape, generator=gen, dtype=t.dtype))
            else:
                fan_in = t[0].numel() if t.dim() > 1 else 4
                t.copy_(torch.randn(t.shape, generator=gen, dtype=t.dtype) / math.sqrt(fan_in))
    tensors = {k: v.clone() for k, v in net.state_dict().items() if not k.endswith('num_batches_tracked')}
    H = int(cfg.image_size)
    g = cfg.roi_size if cfg.alignment == 'roi' else H // cfg.output_stride
    for v in (1, 2):
        tensors[f'view{v}'] = torch.randint(0, 256, (B, 3, H, H), generator=gen).double()
        tensors[f'flip{v}'] = (torch.rand(B, generator=gen) < 0.5).double()
        lo = torch.rand(B, 2, generator=gen, dtype=torch.float64) * 0.4
        size = 0.35 + torch.rand(B, 2, generator=gen, dtype=torch.float64) * 0.25
        tensors[f'boxes{v}'] = torch.cat([lo, lo + size], 1)
        tensors[f'target_z{v}'] = torch.randn(B, cfg.proj_dim, generator=gen, dtype=torch.float64)
        td = torch.randn(B, cfg.dense_proj_dim, g, g, generator=gen, dtype=torch.float64)
        tensors[f'target_dense{v}'] = Fn.normalize(td, dim=1) if cfg.dense_target == 'kmeans' else td
    # one pair that does not intersect (exercises the own-box fallback), dense weight 0 on another
    tensors['boxes1'][0] = torch.tensor([0.0, 0.0, 0.3, 0.3], dtype=torch.float64)
    tensors['boxes2'][0] = torch.tensor([0.6, 0.6, 1.0, 1.0], dtype=torch.float64)
    tensors['dense_weight'] = torch.tensor([0.0, 1.0, 0.0, 1.0][:B] + [1.0] * max(0, B - 4), dtype=torch.float64)
    tensors['queue_global'] = Fn.normalize(torch.randn(24, cfg.proj_dim, generator=gen, dtype=torch.float64), dim=1)
    tensors['queue_dense'] = Fn.normalize(torch.randn(24, cfg.dense_proj_dim, generator=gen, dtype=torch.float64), dim=1)
    if cfg.framework == 'moco':
        tensors = {k: v for k, v in tensors.items() if not k.startswith('predictor.') and not k.startswith('dense_predictor.')}
    return tensors


def loss_fn(cfg, tensors):
    net = build(cfg, with_dense=cfg.dense or any(k.startswith('dense_') for k in tensors))
    load_params(net, tensors, torch.float64)
    return net, data_tensors(tensors, cfg, torch.float64)


def selftest():
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(1234)
    variants = [
        ('offset/kmeans/cos-pow', tiny_cfg()),
        ('roi/features/softmax/residual', tiny_cfg(**{'alignment': 'roi', 'dense_target': 'features',
                                                      'attention.sim': 'softmax', 'attention.residual': True})),
        ('roi/kmeans/cos-pow 112px S=7', tiny_cfg(**{'alignment': 'roi', 'data.image_size': 112, 'data.roi_size': 7})),
        ('moco/roi/cos-pow', tiny_cfg(**{'framework': 'moco', 'alignment': 'roi'})),
        ('byol baseline', tiny_cfg(**{'method': 'byol'})),
    ]
    failures = 0
    for label, cfg in variants:
        tensors = random_inputs(cfg, gen)
        out = run(tensors, cfg)
        print(f'[{label}] loss={out["loss"].item():.6f} global={out["loss_global"].item():.6f} '
              f'dense={out["loss_dense"].item():.6f}')
        # 1. gradients vs central finite differences (float64), through autograd.gradcheck on head
        #    parameters and hand FD on a few backbone entries
        net, data = loss_fn(cfg, tensors)
        pnames = ['projector.3.bias', 'projector.1.weight']
        if cfg.framework == 'byol':
            pnames += ['predictor.0.bias']
        if cfg.dense:
            pnames += ['dense_projector.3.bias', 'dense_projector.1.bias']
            if cfg.framework == 'byol':
                pnames += ['dense_predictor.0.bias', 'dense_predictor.3.bias']
        params = dict(net.named_parameters())
        for pn in pnames:
            p = params[pn]

            def f(val, p=p):
                with torch.no_grad():
                    saved = p.detach().clone()
                p.data = val  # the function of one parameter tensor; others fixed
                try:
                    return compute_loss(net, cfg, data)[0]
                finally:
                    p.data = saved

            val = p.detach().clone()
            # gradcheck needs the tensor as an autograd input: rebind as a leaf through a parametrisation
            def g(v, pn=pn):
                mod, attr = net, pn.split('.')
                for a in attr[:-1]:
                    mod = getattr(mod, a)
                orig = mod._parameters[attr[-1]]
                del mod._parameters[attr[-1]]
                setattr(mod, attr[-1], v)
                try:
                    return compute_loss(net, cfg, data)[0]
                finally:
                    delattr(mod, attr[-1])
                    mod._parameters[attr[-1]] = orig
            ok = torch.autograd.gradcheck(g, (val.clone().requires_grad_(True),), eps=1e-6, atol=1e-6, rtol=1e-5,
                                          raise_exception=False)
            an = out['grad.' + pn].double()
            num = torch.zeros_like(val).flatten()
            for i in range(min(6, val.numel())):
                vp, vm = val.clone().flatten(), val.clone().flatten()
                vp[i] += 1e-6
                vm[i] -= 1e-6
                num[i] = (f(vp.view_as(val)) - f(vm.view_as(val))).item() / 2e-6
            k = min(6, val.numel())
            err = (an.flatten()[:k] - num[:k]).abs().max().item()
            good = ok and err < 1e-4 * max(1.0, num[:k].abs().max().item())
            failures += not good
            print(f'  gradcheck {pn:26s} {"ok" if ok else "FAIL"}; float32 output vs FD max err {err:.2e} '
                  f'{"ok" if good else "FAIL"}')
        # hand FD on two backbone weights (through every layer, BN in training mode)
        for pn in ['conv1.weight', 'layer4.1.conv2.weight']:
            p = params[pn]
            an = out['grad.' + pn].double().flatten()
            errs = []
            idx = torch.randint(0, p.numel(), (3,), generator=gen)
            for i in idx.tolist():
                with torch.no_grad():
                    base = p.view(-1)[i].item()
                    p.view(-1)[i] = base + 1e-6
                    lp = compute_loss(net, cfg, data)[0].item()
                    p.view(-1)[i] = base - 1e-6
                    lm = compute_loss(net, cfg, data)[0].item()
                    p.view(-1)[i] = base
                errs.append(abs((lp - lm) / 2e-6 - an[i].item()))
            good = max(errs) < 1e-4
            failures += not good
            print(f'  FD {pn:33s} max err {max(errs):.2e} {"ok" if good else "FAIL"}')
        # 2. symmetry: swapping the views with their inputs leaves the loss unchanged
        sw = dict(tensors)
        for a, b in [('view1', 'view2'), ('flip1', 'flip2'), ('boxes1', 'boxes2'), ('target_z1', 'target_z2'),
                     ('target_dense1', 'target_dense2')]:
            sw[a], sw[b] = tensors[b], tensors[a]
        out_sw = run(sw, cfg)
        dsym = max(abs(out_sw[k].item() - out[k].item()) for k in ('loss', 'loss_global', 'loss_dense'))
        gsym = max((out_sw[k] - out[k]).abs().max().item() for k in out if k.startswith('grad.'))
        good = dsym < 1e-6 and gsym < 1e-5
        failures += not good
        print(f'  symmetry: |Δloss| {dsym:.2e}, max |Δgrad| {gsym:.2e} {"ok" if good else "FAIL"}')
        # 2b. pairing: target_z1 / target_dense1 supervise online view 1 (and _2 view 2). Setting them to
        #     view 1's own prediction makes direction 1's BYOL terms exactly 0 (2 − 2·1), direction 2 unchanged.
        if cfg.framework == 'byol':
            keep = {}
            with torch.no_grad():
                compute_loss(net, cfg, data, keep)
                d2 = dict(data)
                d2['target_z1'] = keep['p1']
                if cfg.dense:
                    d2['target_dense1'] = keep['Q1']
                keep2 = {}
                compute_loss(net, cfg, d2, keep2)
            vals = [abs(keep2['global1'].item()), abs(keep2['global2'].item() - keep['global2'].item())]
            if cfg.dense and cfg.dense_target == 'kmeans':
                vals += [abs(keep2['dense1'].item()), abs(keep2['dense2'].item() - keep['dense2'].item())]
            elif cfg.dense:  # features: −cos → −1 per cell, weighted mean → −(Σw>0)
                vals += [abs(keep2['dense1'].item() + 1.0), abs(keep2['dense2'].item() - keep['dense2'].item())]
            good = max(vals) < 1e-12
            failures += not good
            print(f'  pairing (target_*1 supervises view 1): max dev {max(vals):.2e} {"ok" if good else "FAIL"}')
        # 3. alignment and attention pieces against hand computations
        if cfg.dense and cfg.framework == 'byol':
            keep = {}
            with torch.no_grad():
                compute_loss(net, cfg, data, keep)
            if cfg.alignment == 'roi':
                # 3a. identical, unflipped boxes and S = h: RoI-aligned R equals D at cell centres
                h = keep['D1'].shape[-1]
                box = data['boxes1'][1:2]
                D = keep['D1'][1:2]
                if int(cfg.roi_size) == h:
                    reg, _ = roi_regions(box, box)
                    with torch.no_grad():
                        R = roi(D, reg, box, h)
                    err = (R - D).abs().max().item()
                    good = err < 1e-12
                    failures += not good
                    print(f'  roi identity (same boxes, S=h={h}): max |R − D| = {err:.2e} {"ok" if good else "FAIL"}')
                # 3b. roi_align sample positions: one bilinear sample at each S×S cell centre of the region
                reg1, _ = roi_regions(data['boxes1'], data['boxes2'])
                b = 2
                Dm = keep['D1'][b]
                _, hh, ww = Dm.shape
                S = cfg.roi_size
                fc = to_feature_coords(reg1, data['boxes1'], hh, ww)[b]
                man = torch.zeros(Dm.shape[0], S, S)
                for i in range(S):
                    for j in range(S):
                        x = fc[0] + (j + 0.5) * (fc[2] - fc[0]) / S - 0.5
                        y = fc[1] + (i + 0.5) * (fc[3] - fc[1]) / S - 0.5
                        man[:, i, j] = bilinear(Dm, y.item(), x.item())
                err = (man - keep['R1'][b]).abs().max().item()
                good = err < 1e-10
                failures += not good
                print(f'  roi sample positions vs hand bilinear: max err {err:.2e} {"ok" if good else "FAIL"}')
            else:
                # 3c. ΔC: identical boxes give zero offsets; sign convention other − self
                dc = offset_map(data['boxes1'], data['boxes1'], 2, 3)
                good = dc.abs().max().item() == 0.0
                b1 = torch.tensor([[0.0, 0.0, 0.5, 0.5]])
                b2 = torch.tensor([[0.5, 0.25, 1.0, 0.75]])
                dc = offset_map(b1, b2, 2, 2)
                good = good and torch.allclose(dc[0, 0], torch.full((2, 2), 0.5)) and torch.allclose(dc[0, 1], torch.full((2, 2), 0.25))
                failures += not good
                print(f'  offset map convention (Δx, Δy = other − self) {"ok" if good else "FAIL"}')
            # 3d. attention against an explicit double loop
            R, x, Q = keep['R1'], keep['x1'], keep['Q1']
            qx = net.dense_predictor(x).detach()
            b = 1
            N = R.shape[2] * R.shape[3]
            Rf, qf = R[b].flatten(1).T, qx[b].flatten(1).T
            man = torch.zeros_like(qf)
            for i in range(N):
                for k in range(N):
                    if cfg.sim == 'cos-pow':
                        c = (Rf[i] @ Rf[k]) / (max(Rf[i].norm().item(), EPS) * max(Rf[k].norm().item(), EPS))
                        s = max(c.item(), 0.0) ** cfg.gamma
                    else:
                        s = (torch.softmax(Rf[i] @ Rf.T / math.sqrt(Rf.shape[1]), 0)[k]).item()
                    man[i] += s * qf[k]
                if cfg.residual:
                    man[i] += qf[i]
            err = (man - Q[b].flatten(1).T).abs().max().item()
            good = err < 1e-9
            failures += not good
            print(f'  attention vs explicit loop: max err {err:.2e} {"ok" if good else "FAIL"}')
        # 4. file round trip through the CLI path
        if label.startswith('offset'):
            import tempfile
            with tempfile.TemporaryDirectory() as tmp:
                torch_safetensors.save(os.path.join(tmp, 'in.safetensors'), {k: v.float() for k, v in tensors.items()})
                t32, _ = torch_safetensors.load(os.path.join(tmp, 'in.safetensors'))
                o = run(t32, cfg)
                torch_safetensors.save(os.path.join(tmp, 'out.safetensors'), o)
                back, _ = torch_safetensors.load(os.path.join(tmp, 'out.safetensors'))
                good = set(back) == set(o) and all(back[k].dtype == torch.float32 for k in back) \
                    and back['loss'].shape == torch.Size([]) \
                    and abs(back['loss'].item() - out['loss'].item()) < 1e-4
                failures += not good
                print(f'  safetensors round trip (float32 in, float32 out) {"ok" if good else "FAIL"}')
                # the CLI in a fresh interpreter (default dtype float32) gives the same file
                import subprocess
                with open(os.path.join(tmp, 'cfg.json'), 'w') as fh:
                    json.dump(cfg.raw, fh)
                res = subprocess.run([sys.executable, os.path.abspath(__file__), os.path.join(tmp, 'in.safetensors'),
                                      os.path.join(tmp, 'cfg.json'), os.path.join(tmp, 'cli.safetensors')],
                                     capture_output=True, text=True)
                cli = torch_safetensors.load(os.path.join(tmp, 'cli.safetensors'))[0] if res.returncode == 0 else {}
                dev = max(((cli[k] - o[k]).abs().max() / max(1e-3, o[k].abs().max().item())).item()
                          for k in o) if set(cli) == set(o) else float('inf')
                good = dev < 1e-6
                failures += not good
                print(f'  CLI subprocess vs in-process: max rel dev {dev:.2e} {"ok" if good else "FAIL " + res.stderr[-500:]}')
    print('selftest:', 'all ok' if failures == 0 else f'{failures} FAILED')
    return failures == 0


def bilinear(m, y, x):
    """Hand bilinear sample of m (c,h,w) at (y,x) in pixel-index coordinates with roi_align's
    border rule (outside [-1, h] → 0, clamp to the edge otherwise)."""
    _, h, w = m.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return torch.zeros(m.shape[0])
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(math.floor(y)), int(math.floor(x))
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * m[:, y0, x0] + (1 - ly) * lx * m[:, y0, x1]
            + ly * (1 - lx) * m[:, y1, x0] + ly * lx * m[:, y1, x1])


def main(argv):
    if argv == ['--selftest']:
        sys.exit(0 if selftest() else 1)
    dtype = torch.float32 if '--float32' in argv else torch.float64
    normalise = '--normalised-views' not in argv
    perturb = '--perturb-views' in argv
    argv = [a for a in argv if a not in ('--float32', '--normalised-views', '--perturb-views')]
    if len(argv) != 3:
        raise SystemExit(__doc__)
    tensors, _ = torch_safetensors.load(argv[0])
    with open(argv[1]) as f:
        cfg = Cfg(json.load(f))
    out = run(tensors, cfg, dtype, normalise, perturb)
    torch_safetensors.save(argv[2], out, {'producer': 'tools/torch_multisiam.py', 'compute_dtype': str(dtype)})
    print(f'torch_multisiam: {cfg.method}/{cfg.framework}/{cfg.alignment}/{cfg.dense_target} '
          f'loss={out["loss"].item():.6f} global={out["loss_global"].item():.6f} dense={out["loss_dense"].item():.6f} '
          f'({sum(1 for k in out if k.startswith("grad."))} gradients, computed in {dtype})')


if __name__ == '__main__':
    main(sys.argv[1:])
