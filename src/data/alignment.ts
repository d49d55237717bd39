/**
 * Geometry of a view pair (SPEC §2.1, §2.4, §2.9): crop boxes, IoU, the offset map ΔC and the RoI
 * sampling positions that the graphs take as inputs. Boxes are (x1, y1, x2, y2) in the original image
 * normalised by its width and height, x1 < x2, y1 < y2; a flipped view's box is the same box (the
 * flip is applied to the resized crop and undone on the feature map before alignment).
 */

export type Box = readonly [x1: number, y1: number, x2: number, y2: number];

export function boxArea(b: Box): number {
  return Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
}

/** The overlap of two boxes, or null when they do not overlap with positive area. */
export function intersection(a: Box, b: Box): Box | null {
  const x1 = Math.max(a[0], b[0]);
  const y1 = Math.max(a[1], b[1]);
  const x2 = Math.min(a[2], b[2]);
  const y2 = Math.min(a[3], b[3]);
  return x2 > x1 && y2 > y1 ? [x1, y1, x2, y2] : null;
}

export function iou(a: Box, b: Box): number {
  const inter = intersection(a, b);
  if (!inter) return 0;
  const i = boxArea(inter);
  return i / (boxArea(a) + boxArea(b) - i);
}

/**
 * Centre of cell (i, j) of an h×w map over `box`: cell (i, j) covers the crop fraction
 * [j/w, (j+1)/w] × [i/h, (i+1)/h].
 */
export function cellCentre(box: Box, i: number, j: number, h: number, w: number): [x: number, y: number] {
  return [box[0] + ((j + 0.5) * (box[2] - box[0])) / w, box[1] + ((i + 0.5) * (box[3] - box[1])) / h];
}

/**
 * ΔC for one direction: channel 0 holds Δx and channel 1 Δy, where Δ(i, j) is the centre of the
 * target view's cell (i, j) minus the centre of the online view's cell (i, j). Writes 2·h·w floats
 * (channel-major, like one item of a B×2×h×w tensor) into `out` at `at`.
 */
export function writeOffsetMap(online: Box, target: Box, h: number, w: number, out: Float32Array, at: number): void {
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const [ox, oy] = cellCentre(online, i, j, h, w);
      const [tx, ty] = cellCentre(target, i, j, h, w);
      out[at + i * w + j] = tx - ox;
      out[at + h * w + i * w + j] = ty - oy;
    }
  }
}

/** A position whose bilinear weights are all zero (torchvision's out-of-range rule). */
export const OUTSIDE = -1e4;

/**
 * The S×S sampling positions of `roi` on a view's h×w feature map, with torchvision
 * `roi_align(aligned=True, sampling_ratio=1)` semantics: one sample at each bin centre, in feature
 * index coordinates (continuous coordinate − 0.5), clamped as torchvision's bilinear_interpolate
 * does, so that tent weights max(0, 1 − |p − k|) over the grid reproduce its interpolation.
 * Writes S·S (x, y) pairs into `out` at `at`, row-major over the bins.
 */
export function writeRoiPositions(view: Box, roi: Box, h: number, w: number, S: number, out: Float32Array, at: number): void {
  const vw = view[2] - view[0];
  const vh = view[3] - view[1];
  for (let by = 0; by < S; by++) {
    for (let bx = 0; bx < S; bx++) {
      const [cx, cy] = cellCentre(roi, by, bx, S, S);
      let x = ((cx - view[0]) / vw) * w - 0.5;
      let y = ((cy - view[1]) / vh) * h - 0.5;
      const k = at + 2 * (by * S + bx);
      if (y < -1 || y > h || x < -1 || x > w) {
        out[k] = OUTSIDE;
        out[k + 1] = OUTSIDE;
        continue;
      }
      x = Math.min(Math.max(x, 0), w - 1);
      y = Math.min(Math.max(y, 0), h - 1);
      out[k] = x;
      out[k + 1] = y;
    }
  }
}

/** The region RoI alignment resamples: the boxes' intersection, or each view's own box when they do not meet. */
export function roiBoxes(a: Box, b: Box): [forA: Box, forB: Box] {
  const inter = intersection(a, b);
  return inter ? [inter, inter] : [a, b];
}
