#!/usr/bin/python3
"""Independent PyTorch reference for the baselines' online losses and gradients: MoCo-v2, DenseCL and
PixPro as this tool builds them (src/methods/mocov2.ts, densecl.ts, pixpro.ts), written after the
authors' code rather than after ours: facebookresearch/moco `moco/builder.py`, WXinlong/DenseCL
`openselfsup/models/densecl.py` and `necks.py`, zdaxie/PixPro `contrast/models/PixPro.py`.

Run with Debian's PyTorch 1.13 / torchvision 0.14:

    /usr/bin/python3 tools/torch_baselines.py IN.safetensors CONFIG.json OUT.safetensors [--float32] [--normalised-views] [--perturb-views]
    /usr/bin/python3 tools/torch_baselines.py --selftest

IN.safetensors
    Online parameters and BN buffers by their PyTorch names: the backbone with torchvision ResNet names,
    then per method
      mocov2:  `projector.{0,2}.*` (Linear–ReLU–Linear);
      densecl: `projector.{0,2}.*`, `dense_projector.{0,2}.*` (1×1 conv–ReLU–1×1 conv);
      pixpro:  `dense_projector.{0,1,3}.*` (MLP2d with BN), `value_transform.*` (1×1 conv), and with
               loss.w_global > 0 `projector.{0,1,3}.*`, `predictor.{0,1,3}.*` (MLP2d with BN).
    Data: `view1`, `view2` (B,3,H,W) pixel values 0..255 (or normalised, with --normalised-views);
    `flip1`, `flip2` (B) 0/1; `boxes1`, `boxes2` (B,4) normalised (x1,y1,x2,y2), x1 < x2;
    `target_z<v>` (B,proj_dim): the key/target projection of the OTHER view (supervises view v);
    `target_dense<v>` (B,dense_proj_dim,h,w): the key/target dense projection of the other view;
    `target_features<v>` (B,C,h,w): DenseCL only, the key encoder's backbone map of the other view;
    `queue_global`, `queue_dense` (L,D): the MoCo key queues, used as given.
CONFIG.json
    The resolved config (method, heads.*, loss.*, moco.temperature, pixpro.*, backbone.*, data.mean/std).
OUT.safetensors (all float32)
    `loss`, `loss_<term>` for each term the method logs (mocov2: global; densecl: global, dense;
    pixpro: pixel [, instance]) and `grad.<name>` for every parameter of IN.

Precision flags as tools/torch_multisiam.py: float64 unless --float32; --perturb-views moves every view
pixel by one float32 ulp (the gradients' float32 noise floor).

What is computed (each view its own forward pass in training mode; both directions, summed):
  * mocov2: q_v = normalize(projector(mean over cells of F_v)); k = normalize(target_z_v);
    global = Σ_v CrossEntropy([q·k, q·queue_globalᵀ]/τ, label 0);
  * densecl: global as mocov2; q_grid = normalize(dense_projector(F_v)) per cell,
    q_b = normalize(F_v), k_b = normalize(target_features_v), k_grid = normalize(target_dense_v);
    match = argmax over key cells of q_bᵀk_b (torch.max, no gradient); dense = Σ_v CrossEntropy over
    every cell of [q_grid·k_grid[match], q_grid·queue_denseᵀ]/τ; loss = w_global·global + w_dense·dense;
  * pixpro: y_v = normalize(featprop(dense_projector(F_v))), featprop(x) = Σ_j clamp(cos, 0)^γ ·
    normalize(value_transform(x))_j; pixel = Σ_v regression_loss(y_v, normalize(target_dense_v),
    coords_v, coords_other) with PixPro's coordinates (x1 and x2 swapped for a flipped view) and
    pos_ratio; instance (w_global > 0) = Σ_v mean(2 − 2·cos(avgpool(predictor(projector(F_v))),
    target_z_v)); loss = w_dense·pixel + w_global·instance.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as Fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_safetensors  # noqa: E402
from torch_multisiam import EPS, data_tensors, load_params, mlp2d  # noqa: E402
from torch_resnet import RefResNet  # noqa: E402

METHODS = ('mocov2', 'densecl', 'pixpro')
DATA_NAMES = {
    'view1', 'view2', 'flip1', 'flip2', 'boxes1', 'boxes2', 'target_z1', 'target_z2', 'target_dense1',
    'target_dense2', 'target_features1', 'target_features2', 'queue_global', 'queue_dense',
}


class Cfg:
    def __init__(self, raw):
        def get(path):
            node = raw
            for key in path.split('.'):
                if not isinstance(node, dict) or key not in node:
                    raise SystemExit(f'torch_baselines: config field `{path}` is missing')
                node = node[key]
            return node

        self.raw = raw
        self.method = get('method')
        if self.method not in METHODS:
            raise SystemExit(f'torch_baselines: method {self.method!r}, expected one of {METHODS}')
        self.mean = [float(m) for m in get('data.mean')]
        self.std = [float(s) for s in get('data.std')]
        self.depth = {'resnet18': 18, 'resnet50': 50}[get('backbone.arch')]
        self.width = float(get('backbone.width'))
        self.output_stride = int(get('backbone.output_stride'))
        self.proj_hidden, self.proj_dim = int(get('heads.proj_hidden')), int(get('heads.proj_dim'))
        self.pred_hidden = int(get('heads.pred_hidden'))
        self.w_global = float(get('loss.w_global'))
        if self.method != 'mocov2':
            self.dense_hidden, self.dense_dim = int(get('heads.dense_proj_hidden')), int(get('heads.dense_proj_dim'))
            self.w_dense = float(get('loss.w_dense'))
        if self.method == 'pixpro':
            self.gamma = float(get('pixpro.gamma'))
            self.pos_ratio = float(get('pixpro.pos_ratio'))
        else:
            self.temperature = float(get('moco.temperature'))

    @property
    def instance(self):
        return self.method == 'pixpro' and self.w_global > 0


def plain_mlp(cin, hidden, cout):
    """MoCo-v2 / DenseCLNeck.mlp: fc–ReLU–fc, no BN."""
    return nn.Sequential(nn.Linear(cin, hidden), nn.ReLU(), nn.Linear(hidden, cout))


def plain_mlp2d(cin, hidden, cout):
    """DenseCLNeck.mlp2: conv1×1–ReLU–conv1×1, no BN."""
    return nn.Sequential(nn.Conv2d(cin, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, cout, 1))


def build(cfg):
    net = RefResNet(cfg.depth, cfg.width, cfg.output_stride, 0)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps, m.momentum = 1e-5, 0.1
    C = net.inplanes
    if cfg.method in ('mocov2', 'densecl'):
        net.projector = plain_mlp(C, cfg.proj_hidden, cfg.proj_dim)
    if cfg.method == 'densecl':
        net.dense_projector = plain_mlp2d(C, cfg.dense_hidden, cfg.dense_dim)
    if cfg.method == 'pixpro':
        net.dense_projector = mlp2d(C, cfg.dense_hidden, cfg.dense_dim)
        net.value_transform = nn.Conv2d(cfg.dense_dim, cfg.dense_dim, 1)
        if cfg.instance:
            net.projector = mlp2d(C, cfg.proj_hidden, cfg.proj_dim)
            net.predictor = mlp2d(cfg.proj_dim, cfg.pred_hidden, cfg.proj_dim)
    return net


def contrast(q, k, queue, tau):
    """MoCo's InfoNCE: q, k (M,D) normalised, queue (L,D); cross-entropy with the positive at index 0."""
    l_pos = torch.einsum('nc,nc->n', [q, k]).unsqueeze(-1)
    l_neg = torch.einsum('nc,ck->nk', [q, queue.t()])
    logits = torch.cat([l_pos, l_neg], dim=1) / tau
    return Fn.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long))


def densecl_dense(F_q, q_grid_map, F_k, k_grid_map, queue2, tau, keep=None):
    """DenseCL's dense term for one direction, following `densecl.py`'s forward_train."""
    B = F_q.shape[0]
    q_b = Fn.normalize(F_q.detach().flatten(2), dim=1, eps=EPS)
    k_b = Fn.normalize(F_k.flatten(2), dim=1, eps=EPS)
    q_grid = Fn.normalize(q_grid_map.flatten(2), dim=1, eps=EPS)
    k_grid = Fn.normalize(k_grid_map.flatten(2), dim=1, eps=EPS)
    backbone_sim_matrix = torch.matmul(q_b.permute(0, 2, 1), k_b)
    densecl_sim_ind = backbone_sim_matrix.max(dim=2)[1]  # N×S²
    indexed_k_grid = torch.gather(k_grid, 2, densecl_sim_ind.unsqueeze(1).expand(-1, k_grid.size(1), -1))
    densecl_sim_q = (q_grid * indexed_k_grid).sum(1)
    l_pos_dense = densecl_sim_q.view(-1).unsqueeze(-1)
    q_rows = q_grid.permute(0, 2, 1).reshape(-1, q_grid.size(1))
    l_neg_dense = torch.einsum('nc,ck->nk', [q_rows, queue2.t()])
    logits = torch.cat([l_pos_dense, l_neg_dense], dim=1) / tau
    if keep is not None:
        keep['match'] = densecl_sim_ind
        keep['q_b'], keep['k_b'] = q_b, k_b
    assert logits.shape[0] == B * q_grid.shape[2]
    return Fn.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long))


def featprop(net, feat, gamma):
    """PixPro's pixel propagation module (`PixPro.featprop`, transform layer 1, clamp 0)."""
    N, C, H, W = feat.shape
    feat_value = Fn.normalize(net.value_transform(feat), dim=1, eps=EPS).view(N, C, -1)
    feat = Fn.normalize(feat, dim=1, eps=EPS).view(N, C, -1)
    attention = torch.clamp(torch.bmm(feat.transpose(1, 2), feat), min=0.0) ** gamma
    return torch.bmm(feat_value, attention.transpose(1, 2)).view(N, C, H, W)


def pixpro_coords(boxes, flip):
    """PixPro's crop coordinates (`transform_coord.py`): a flipped view has x1 and x2 swapped."""
    f = flip > 0.5
    x1 = torch.where(f, boxes[:, 2], boxes[:, 0])
    x2 = torch.where(f, boxes[:, 0], boxes[:, 2])
    return torch.stack([x1, boxes[:, 1], x2, boxes[:, 3]], 1)


def pixpro_mask(coord_q, coord_k, H, W, pos_ratio):
    """The positive-pair mask of PixPro's `regression_loss`, (B, H·W, H·W)."""
    x_array = torch.arange(0., float(W), dtype=coord_q.dtype).view(1, 1, -1).repeat(1, H, 1)
    y_array = torch.arange(0., float(H), dtype=coord_q.dtype).view(1, -1, 1).repeat(1, 1, W)
    q_bin_width = ((coord_q[:, 2] - coord_q[:, 0]) / W).view(-1, 1, 1)
    q_bin_height = ((coord_q[:, 3] - coord_q[:, 1]) / H).view(-1, 1, 1)
    k_bin_width = ((coord_k[:, 2] - coord_k[:, 0]) / W).view(-1, 1, 1)
    k_bin_height = ((coord_k[:, 3] - coord_k[:, 1]) / H).view(-1, 1, 1)
    q_start_x, q_start_y = coord_q[:, 0].view(-1, 1, 1), coord_q[:, 1].view(-1, 1, 1)
    k_start_x, k_start_y = coord_k[:, 0].view(-1, 1, 1), coord_k[:, 1].view(-1, 1, 1)
    q_bin_diag = torch.sqrt(q_bin_width ** 2 + q_bin_height ** 2)
    k_bin_diag = torch.sqrt(k_bin_width ** 2 + k_bin_height ** 2)
    max_bin_diag = torch.max(q_bin_diag, k_bin_diag)
    center_q_x = (x_array + 0.5) * q_bin_width + q_start_x
    center_q_y = (y_array + 0.5) * q_bin_height + q_start_y
    center_k_x = (x_array + 0.5) * k_bin_width + k_start_x
    center_k_y = (y_array + 0.5) * k_bin_height + k_start_y
    dist_center = torch.sqrt((center_q_x.view(-1, H * W, 1) - center_k_x.view(-1, 1, H * W)) ** 2
                             + (center_q_y.view(-1, H * W, 1) - center_k_y.view(-1, 1, H * W)) ** 2) / max_bin_diag
    return (dist_center < pos_ratio).to(coord_q.dtype).detach()


def regression_loss(q, k, mask):
    """PixPro's pixel consistency for one direction; q, k (B,C,H,W) normalised."""
    N, C, H, W = q.shape
    logit = torch.bmm(q.view(N, C, -1).transpose(1, 2), k.view(N, C, -1))
    loss = (logit * mask).sum(-1).sum(-1) / (mask.sum(-1).sum(-1) + 1e-6)
    return -2 * loss.mean()


def compute_loss(net, cfg, d, keep=None):
    """Returns (loss, {term: value})."""
    other = {1: 2, 2: 1}
    F = {v: net(d[f'view{v}']) for v in (1, 2)}
    terms = {}
    if cfg.method in ('mocov2', 'densecl'):
        q = {v: Fn.normalize(net.projector(F[v].mean((2, 3))), dim=1, eps=EPS) for v in (1, 2)}
        terms['global'] = sum(contrast(q[v], Fn.normalize(d[f'target_z{v}'], dim=1, eps=EPS), d['queue_global'], cfg.temperature)
                              for v in (1, 2))
        loss = cfg.w_global * terms['global']
        if cfg.method == 'densecl':
            terms['dense'] = sum(densecl_dense(F[v], net.dense_projector(F[v]), d[f'target_features{v}'], d[f'target_dense{v}'],
                                               d['queue_dense'], cfg.temperature, None if keep is None else keep.setdefault(v, {}))
                                 for v in (1, 2))
            loss = loss + cfg.w_dense * terms['dense']
        return loss, terms
    H, W = F[1].shape[2:]
    coords = {v: pixpro_coords(d[f'boxes{v}'], d[f'flip{v}']) for v in (1, 2)}
    pixel = 0
    for v in (1, 2):
        y = Fn.normalize(featprop(net, net.dense_projector(F[v]), cfg.gamma), dim=1, eps=EPS)
        k = Fn.normalize(d[f'target_dense{v}'], dim=1, eps=EPS)
        mask = pixpro_mask(coords[v], coords[other[v]], H, W, cfg.pos_ratio)
        if keep is not None:
            keep[f'mask{v}'] = mask
        pixel = pixel + regression_loss(y, k, mask)
    terms['pixel'] = pixel
    loss = cfg.w_dense * pixel
    if cfg.instance:
        instance = 0
        for v in (1, 2):
            p = Fn.normalize(net.predictor(net.projector(F[v])).mean((2, 3)), dim=1, eps=EPS)
            z = Fn.normalize(d[f'target_z{v}'], dim=1, eps=EPS)
            # PixPro writes −2·cos; 2 − 2·cos (BYOL, as this tool logs it) has the same gradient.
            instance = instance + (2 - 2 * (p * z).sum(1)).mean()
        terms['instance'] = instance
        loss = loss + cfg.w_global * instance
    return loss, terms


def prepare(tensors, cfg, dtype, normalise=True, perturb=False):
    net = build(cfg)
    load_params(net, {k: v for k, v in tensors.items() if k not in DATA_NAMES}, dtype)
    return net, data_tensors(tensors, cfg, dtype, normalise, perturb, names=DATA_NAMES)


def run(tensors, cfg, dtype=torch.float64, normalise=True, perturb=False):
    net, data = prepare(tensors, cfg, dtype, normalise, perturb)
    params = dict(net.named_parameters())
    for p in params.values():
        p.grad = torch.zeros_like(p)
    loss, terms = compute_loss(net, cfg, data)
    loss.backward()
    out = {'loss': loss.detach()}
    out.update({f'loss_{k}': v.detach() for k, v in terms.items()})
    out.update({'grad.' + name: p.grad.detach() for name, p in params.items()})
    return {k: v.to(torch.float32) for k, v in out.items()}


# ----------------------------------------------------------------------------------------------- selftest

def tiny_cfg(method, **over):
    raw = {
        'method': method, 'data': {'mean': [0.485, 0.456, 0.406], 'std': [0.229, 0.224, 0.225]},
        'backbone': {'arch': 'resnet18', 'width': 0.25, 'output_stride': 16},
        'heads': {'proj_hidden': 32, 'proj_dim': 16, 'pred_hidden': 32, 'dense_proj_hidden': 32, 'dense_proj_dim': 16},
        'loss': {'w_global': 0.5, 'w_dense': 0.5}, 'moco': {'temperature': 0.2}, 'pixpro': {'gamma': 2.0, 'pos_ratio': 0.7},
    }
    for path, value in over.items():
        node = raw
        keys = path.split('.')
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return Cfg(raw)


def random_inputs(cfg, gen, B=4, H=64):
    net = build(cfg).double()
    tensors = {}
    for name, t in net.state_dict().items():
        if name.endswith('num_batches_tracked'):
            continue
        if name.endswith('running_var'):
            tensors[name] = 0.5 + torch.rand(t.shape, generator=gen, dtype=torch.float64)
        elif t.dim() == 1 and name.endswith('weight'):
            tensors[name] = 1 + 0.2 * torch.randn(t.shape, generator=gen, dtype=torch.float64)
        else:
            fan_in = t[0].numel() if t.dim() > 1 else 4
            tensors[name] = torch.randn(t.shape, generator=gen, dtype=torch.float64) / math.sqrt(fan_in)
    h = H // cfg.output_stride
    C = net.inplanes
    for v in (1, 2):
        tensors[f'view{v}'] = torch.randint(0, 256, (B, 3, H, H), generator=gen).double()
        tensors[f'flip{v}'] = (torch.arange(B) % 2 == v - 1).double()
        lo = torch.rand(B, 2, generator=gen, dtype=torch.float64) * 0.4
        tensors[f'boxes{v}'] = torch.cat([lo, lo + 0.35 + 0.25 * torch.rand(B, 2, generator=gen, dtype=torch.float64)], 1)
        tensors[f'target_z{v}'] = torch.randn(B, cfg.proj_dim, generator=gen, dtype=torch.float64)
        if cfg.method != 'mocov2':
            tensors[f'target_dense{v}'] = torch.randn(B, cfg.dense_dim, h, h, generator=gen, dtype=torch.float64)
        if cfg.method == 'densecl':
            tensors[f'target_features{v}'] = torch.rand(B, C, h, h, generator=gen, dtype=torch.float64)
    if cfg.method != 'pixpro':
        tensors['queue_global'] = Fn.normalize(torch.randn(24, cfg.proj_dim, generator=gen, dtype=torch.float64), dim=1)
    if cfg.method == 'densecl':
        tensors['queue_dense'] = Fn.normalize(torch.randn(24, cfg.dense_dim, generator=gen, dtype=torch.float64), dim=1)
    return tensors


def selftest():
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(4321)
    failures = 0

    def report(name, good, detail):
        nonlocal failures
        failures += not good
        print(f'  {name}: {detail} {"ok" if good else "FAIL"}')

    for label, cfg, probes in [
        ('mocov2', tiny_cfg('mocov2'), ['projector.2.bias', 'projector.0.weight']),
        ('densecl', tiny_cfg('densecl'), ['projector.2.bias', 'dense_projector.2.bias', 'dense_projector.0.weight']),
        ('pixpro', tiny_cfg('pixpro', **{'loss.w_global': 0.0}), ['dense_projector.3.bias', 'value_transform.bias', 'dense_projector.1.weight']),
        ('pixpro + instance', tiny_cfg('pixpro'), ['value_transform.weight', 'predictor.3.bias', 'projector.1.bias']),
    ]:
        tensors = random_inputs(cfg, gen)
        out = run(tensors, cfg)
        print(f'[{label}] ' + ' '.join(f'{k}={v.item():.6f}' for k, v in out.items() if k.startswith('loss')))
        net, data = prepare(tensors, cfg, torch.float64)
        params = dict(net.named_parameters())
        # 1. gradients of a few head parameters and two backbone entries against central differences
        for pn in probes + ['conv1.weight', 'layer4.1.conv2.weight']:
            p = params[pn]
            errs = []
            for i in torch.randint(0, p.numel(), (3,), generator=gen).tolist():
                with torch.no_grad():
                    base = p.view(-1)[i].item()
                    p.view(-1)[i] = base + 1e-6
                    lp = compute_loss(net, cfg, data)[0].item()
                    p.view(-1)[i] = base - 1e-6
                    lm = compute_loss(net, cfg, data)[0].item()
                    p.view(-1)[i] = base
                errs.append(abs((lp - lm) / 2e-6 - out['grad.' + pn].view(-1)[i].item()))
            report(f'FD {pn}', max(errs) < 1e-4, f'max err {max(errs):.2e}')
        # 2. swapping the views with every per-view input leaves loss and gradients unchanged
        sw = dict(tensors)
        for a in ('view', 'flip', 'boxes', 'target_z', 'target_dense', 'target_features'):
            if f'{a}1' in tensors:
                sw[f'{a}1'], sw[f'{a}2'] = tensors[f'{a}2'], tensors[f'{a}1']
        out_sw = run(sw, cfg)
        dev = max((out_sw[k] - out[k]).abs().max().item() for k in out)
        report('view symmetry', dev < 1e-5, f'max |Δ| {dev:.2e}')
        keep = {}
        with torch.no_grad():
            compute_loss(net, cfg, data, keep)
        if cfg.method == 'densecl':
            # 3. the match is the argmax of an explicit double loop over cosines
            k = keep[1]
            qb, kb = k['q_b'], k['k_b']
            bad = 0
            for b in range(qb.shape[0]):
                for i in range(qb.shape[2]):
                    sims = [float(qb[b, :, i] @ kb[b, :, j]) for j in range(kb.shape[2])]
                    bad += sims.index(max(sims)) != int(k['match'][b, i])
            report('DenseCL match vs explicit argmax', bad == 0, f'{bad} mismatches')
            # 4. a key map equal to the query map matches every cell with itself
            with torch.no_grad():
                same = {}
                densecl_dense(net(data['view1']), net.dense_projector(net(data['view1'])), net(data['view1']),
                              net.dense_projector(net(data['view1'])), data['queue_dense'], cfg.temperature, same)
            n = same['match'].shape[1]
            good = torch.equal(same['match'], torch.arange(n).expand_as(same['match']))
            report('DenseCL self-match is the identity', good, '')
        if cfg.method == 'pixpro':
            # 5. the mask against an independent formulation: flip the map back, unflipped cell centres
            H = W = data['target_dense1'].shape[2]
            m = keep['mask1']
            bad = 0
            for b in range(m.shape[0]):
                def centre(v, i, j):
                    x1, y1, x2, y2 = data[f'boxes{v}'][b].tolist()
                    jj = W - 1 - j if data[f'flip{v}'][b] > 0.5 else j
                    return x1 + (jj + 0.5) * (x2 - x1) / W, y1 + (i + 0.5) * (y2 - y1) / H

                def diag(v):
                    x1, y1, x2, y2 = data[f'boxes{v}'][b].tolist()
                    return math.hypot((x2 - x1) / W, (y2 - y1) / H)

                limit = cfg.pos_ratio * max(diag(1), diag(2))
                for n1 in range(H * W):
                    for n2 in range(H * W):
                        c1, c2 = centre(1, n1 // W, n1 % W), centre(2, n2 // W, n2 % W)
                        bad += (math.dist(c1, c2) < limit) != bool(m[b, n1, n2] > 0.5)
            report('PixPro mask vs flip-back centres', bad == 0, f'{bad} of {m.numel()} differ, {int(m.sum())} positive')
            # 6. identical boxes, no flips, target = the prediction itself: each direction's term is
            #    −2 · (mean cos over the positives) with cos = 1 on the diagonal; pos_ratio tiny → only i = j
            tiny = tiny_cfg('pixpro', **{'loss.w_global': 0.0, 'pixpro.pos_ratio': 1e-3})
            d2 = dict(data)
            d2['boxes2'], d2['flip1'], d2['flip2'] = data['boxes1'], torch.zeros_like(data['flip1']), torch.zeros_like(data['flip2'])
            with torch.no_grad():
                y1 = Fn.normalize(featprop(net, net.dense_projector(net(d2['view1'])), tiny.gamma), dim=1)
                d2['target_dense2'] = y1
                k2 = {}
                compute_loss(net, tiny, d2, k2)
                c = regression_loss(y1, y1, k2['mask1']).item()
            n = H * W
            report('PixPro same boxes: diagonal pairs only, loss −2·n/(n+1e-6)', abs(c + 2 * n / (n + 1e-6)) < 1e-9 and torch.equal(k2['mask1'][0], torch.eye(n)), f'{c:.9f}')
    print('selftest:', 'all ok' if failures == 0 else f'{failures} FAILED')
    return failures == 0


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
        raw = json.load(f)
    cfg = Cfg(raw.get('config', raw) if 'backbone' not in raw else raw)
    out = run(tensors, cfg, dtype, normalise, perturb)
    torch_safetensors.save(argv[2], out, {'producer': 'tools/torch_baselines.py', 'compute_dtype': str(dtype)})
    print(f'torch_baselines: {cfg.method} ' + ' '.join(f'{k}={v.item():.6f}' for k, v in out.items() if k.startswith('loss'))
          + f' ({sum(1 for k in out if k.startswith("grad."))} gradients, computed in {dtype})')


if __name__ == '__main__':
    main(sys.argv[1:])
