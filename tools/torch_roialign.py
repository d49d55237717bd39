#!/usr/bin/python3
"""PyTorch reference for RoI alignment (src/graphs/alignment.ts flipBack + roiAlign with positions from
src/data/alignment.ts writeRoiPositions); run with /usr/bin/python3 (torchvision 0.14).

    /usr/bin/python3 tools/torch_roialign.py IN.safetensors OUT.safetensors

IN holds `map` (B, C, h, w) F32 — each view's feature map as the network computed it, i.e. of the
flipped crop where `flipped` (B) is 1 — and `views`, `rois` (B, 4) F64: the view's crop box and the
region to resample, both (x1, y1, x2, y2) in the original image normalised to [0, 1]; __metadata__
gives `size` (S). OUT receives `out` (B, C, S, S) F64:

    roi_align(where(flipped, flip(map), map), boxes_in_view_feature_coordinates, S,
              spatial_scale=1, sampling_ratio=1, aligned=True)

computed in float64. The feature coordinates are derived here, independently of the TypeScript
positions: x ↦ (x − view.x1) / (view.x2 − view.x1) · w, y likewise with h.
"""
import sys

import torch
from torchvision.ops import roi_align

sys.path.insert(0, __import__('os').path.dirname(__file__))
import torch_safetensors  # noqa: E402


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    t, meta = torch_safetensors.load(sys.argv[1])
    size = int(meta['size'])
    fmap = t['map'].double()
    flipped = t['flipped'] > 0.5
    views, rois = t['views'].double(), t['rois'].double()
    b, _, h, w = fmap.shape
    unflipped = torch.where(flipped.view(b, 1, 1, 1), torch.flip(fmap, dims=[3]), fmap)
    vw = views[:, 2] - views[:, 0]
    vh = views[:, 3] - views[:, 1]
    boxes = torch.stack([
        torch.arange(b, dtype=torch.float64),
        (rois[:, 0] - views[:, 0]) / vw * w,
        (rois[:, 1] - views[:, 1]) / vh * h,
        (rois[:, 2] - views[:, 0]) / vw * w,
        (rois[:, 3] - views[:, 1]) / vh * h,
    ], dim=1)
    out = roi_align(unflipped, boxes, output_size=size, spatial_scale=1.0, sampling_ratio=1, aligned=True)
    torch_safetensors.save(sys.argv[2], {'out': out})
    print(f'torch_roialign: torchvision.ops.roi_align(aligned=True, sampling_ratio=1) on {b} boxes, {h}x{w} maps, S={size}, float64')


if __name__ == '__main__':
    main()
