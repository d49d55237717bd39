/**
 * RoI alignment against torchvision: our flipBack + roiAlign (graphs/alignment.ts), sampling at the
 * positions writeRoiPositions (src/data/alignment.ts) computes from normalised view and RoI boxes,
 * must equal `torchvision.ops.roi_align(where(flipped, flip(map), map), boxes, S, 1.0, 1, aligned=True)`
 * (tools/torch_roialign.py, float64), whose feature-coordinate boxes PyTorch derives itself from the
 * same normalised boxes. Maps are random N(0, 1); about half the views are flipped. Boxes cover the
 * pipeline's case (the intersection of two overlapping crops) and the edges of torchvision's rules:
 * RoIs partly and wholly outside the view, samples in the clamped bands (−1, 0) and (n−1, n), the
 * view's own box (non-intersecting pairs), and tiny and zero-width/zero-height boxes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { flipBack, roiAlign } from '../../src/graphs/alignment.js';
import { type Box, intersection, writeRoiPositions } from '../../src/data/alignment.js';
import { Rng } from '../../src/data/rng.js';
import { Graph } from '../../src/onnx/ir.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { Session } from '../../src/runtime/session.js';
import { type TensorMap, f32, readSafetensors, writeSafetensors } from '../../src/bundle/safetensors.js';
import { runTool, torchUnavailable } from './torch.js';

const TOL = 1e-5;
const skip = torchUnavailable();

/** A random crop box with sides in [min, max] of the image, inside [0, 1]². */
function crop(rng: Rng, min = 0.2, max = 0.9): Box {
  const w = rng.uniform(min, max);
  const h = rng.uniform(min, max);
  const x = rng.uniform(0, 1 - w);
  const y = rng.uniform(0, 1 - h);
  return [x, y, x + w, y + h];
}

type Kind = 'intersection' | 'partly outside' | 'wholly outside' | 'edge bands' | 'own box' | 'tiny' | 'zero width' | 'zero height';
const KINDS: readonly Kind[] = ['intersection', 'partly outside', 'wholly outside', 'edge bands', 'own box', 'tiny', 'zero width', 'zero height'];

/** A (view, RoI) pair of the given kind. */
function boxes(kind: Kind, rng: Rng): [view: Box, roi: Box] {
  const view = crop(rng);
  const [x1, y1, x2, y2] = view;
  const [vw, vh] = [x2 - x1, y2 - y1];
  switch (kind) {
    case 'intersection': {
      for (;;) {
        const inter = intersection(view, crop(rng));
        if (inter) return [view, inter];
      }
    }
    case 'partly outside': {
      // Extends past one or two sides of the view by up to 60% of its size.
      const rx1 = x1 + vw * rng.uniform(-0.6, 0.5);
      const ry1 = y1 + vh * rng.uniform(-0.6, 0.5);
      return [view, [rx1, ry1, rx1 + vw * rng.uniform(0.3, 1.2), ry1 + vh * rng.uniform(0.3, 1.2)]];
    }
    case 'wholly outside': {
      const rx1 = x2 + vw * rng.uniform(0.2, 0.5);
      return [view, [rx1, y1, rx1 + vw * 0.3, y1 + vh * 0.5]];
    }
    case 'edge bands': {
      // Slightly larger than the view: outer samples land within half a cell outside the map.
      const m = rng.uniform(0.02, 0.06);
      return [view, [x1 - m * vw, y1 - m * vh, x2 + m * vw, y2 + m * vh]];
    }
    case 'own box':
      return [view, view];
    case 'tiny': {
      const cx = x1 + vw * rng.uniform(0.1, 0.9);
      const cy = y1 + vh * rng.uniform(0.1, 0.9);
      const s = vw * 10 ** rng.uniform(-6, -2);
      return [view, [cx, cy, cx + s, cy + s * rng.uniform(0.5, 2)]];
    }
    case 'zero width': {
      const cx = x1 + vw * rng.uniform(0, 1);
      return [view, [cx, y1 + 0.2 * vh, cx, y1 + 0.7 * vh]];
    }
    case 'zero height': {
      const cy = y1 + vh * rng.uniform(0, 1);
      return [view, [x1 + 0.1 * vw, cy, x1 + 0.8 * vw, cy]];
    }
  }
}

interface Case {
  readonly h: number;
  readonly w: number;
  readonly size: number;
  readonly channels: number;
  readonly perKind: number;
  readonly seed: number;
}

async function compare(c: Case): Promise<{ worst: number; byKind: Map<Kind, number>; zeroRows: number; scale: number }> {
  const rng = Rng.fromSeed(c.seed);
  const kinds = KINDS.flatMap((k) => Array.from({ length: c.perKind }, () => k));
  const b = kinds.length;
  const n = c.size * c.size;
  const map = Float32Array.from({ length: b * c.channels * c.h * c.w }, () => rng.normal());
  const flipped = Float32Array.from({ length: b }, () => (rng.next() < 0.5 ? 1 : 0));
  const views = new Float64Array(4 * b);
  const rois = new Float64Array(4 * b);
  const positions = new Float32Array(b * n * 2);
  kinds.forEach((kind, i) => {
    const [view, roi] = boxes(kind, rng);
    views.set(view, 4 * i);
    rois.set(roi, 4 * i);
    writeRoiPositions(view, roi, c.h, c.w, c.size, positions, i * n * 2);
  });

  const g = new Graph('roialign');
  const m = g.input('map', 'float32', [b, c.channels, c.h, c.w]);
  const f = g.input('flipped', 'float32', [b]);
  const p = g.input('positions', 'float32', [b, n, 2]);
  g.output('out', roiAlign(flipBack(m, f), p, c.size));
  const session = await Session.create(writeModel(g).model, {}, 'roialign');
  const ours = (await session.run({ map, flipped, positions })).out!.data as Float32Array;
  await session.release();

  const dir = mkdtempSync(join(tmpdir(), 'roialign-'));
  try {
    const tensors: TensorMap = new Map();
    tensors.set('map', f32(map, [b, c.channels, c.h, c.w]));
    tensors.set('flipped', f32(flipped, [b]));
    tensors.set('views', { dtype: 'F64', shape: [b, 4], data: views });
    tensors.set('rois', { dtype: 'F64', shape: [b, 4], data: rois });
    writeSafetensors(join(dir, 'in.safetensors'), tensors, { size: String(c.size) });
    runTool('torch_roialign.py', [join(dir, 'in.safetensors'), join(dir, 'out.safetensors')]);
    const ref = readSafetensors(join(dir, 'out.safetensors')).tensors.get('out')!;
    assert.equal(ref.shape, [b, c.channels, c.size, c.size]);
    const data = ref.data as Float64Array;
    const per = c.channels * n;
    const byKind = new Map<Kind, number>();
    let worst = 0;
    let zeroRows = 0;
    let scale = 0;
    for (let i = 0; i < b; i++) {
      let d = 0;
      let allZero = true;
      for (let k = i * per; k < (i + 1) * per; k++) {
        d = Math.max(d, Math.abs(ours[k]! - data[k]!));
        scale = Math.max(scale, Math.abs(data[k]!));
        if (data[k] !== 0) allZero = false;
      }
      if (allZero) zeroRows++;
      byKind.set(kinds[i]!, Math.max(byKind.get(kinds[i]!) ?? 0, d));
      worst = Math.max(worst, d);
    }
    return { worst, byKind, zeroRows, scale };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(label: string, r: Awaited<ReturnType<typeof compare>>): void {
  console.log(`    ${label}: max |ours − torchvision| ${r.worst.toExponential(2)} (max |ref| ${r.scale.toFixed(2)}; ${r.zeroRows} boxes all-zero in torchvision)`);
  console.log(`      by kind: ${[...r.byKind].map(([k, d]) => `${k} ${d.toExponential(1)}`).join(', ')}`);
}

if (skip) {
  test.skip(`RoI alignment vs torchvision.ops.roi_align (${skip})`, () => undefined);
} else {
  test('7×7 maps, S = 7 (the presets): flipBack + roiAlign = torchvision roi_align(aligned=True, sampling_ratio=1)', async () => {
    const r = await compare({ h: 7, w: 7, size: 7, channels: 16, perKind: 12, seed: 11 });
    report('7×7, S=7', r);
    assert.ok(r.zeroRows >= 12, 'the wholly-outside boxes are all-zero in torchvision too');
    assert.ok(r.worst <= TOL, `max |ours − torchvision| = ${r.worst.toExponential(2)} > ${TOL}`);
  });

  test('non-square 5×9 maps, S = 4: rows and columns are not swapped', async () => {
    const r = await compare({ h: 5, w: 9, size: 4, channels: 8, perKind: 10, seed: 12 });
    report('5×9, S=4', r);
    assert.ok(r.worst <= TOL, `max |ours − torchvision| = ${r.worst.toExponential(2)} > ${TOL}`);
  });

  test('14×14 maps (output stride 16 at 224²), S = 7', async () => {
    const r = await compare({ h: 14, w: 14, size: 7, channels: 8, perKind: 8, seed: 13 });
    report('14×14, S=7', r);
    assert.ok(r.worst <= TOL, `max |ours − torchvision| = ${r.worst.toExponential(2)} > ${TOL}`);
  });
}

test.run();
