/**
 * Every method variant on the tiny preset: loss and gradients of the bundle's grad graph against an
 * independent PyTorch implementation (tools/torch_multisiam.py, float64) on the same parameters and
 * inputs. The PyTorch side gets the crop boxes and computes ΔC and the RoI boxes itself, so the
 * TypeScript alignment inputs are checked too. Error measures and tolerances: ./crosscheck.ts.
 */
import { test } from 'uvu';
import { type MultiSiamConfig, featureMapSize } from '../../src/config/index.js';
import { resolveConfig } from '../../src/methods/index.js';
import { PairLoader } from '../../src/data/loader.js';
import { parseDataArg } from '../../src/data/sources.js';
import { Rng } from '../../src/data/rng.js';
import type { TensorData } from '../../src/onnx/dtype.js';
import { type TensorMap, f32 } from '../../src/bundle/safetensors.js';
import { buildBundleGraphs } from '../../src/bundle/graphs.js';
import { batchFeeds, pairOptionsFor } from '../../src/train/data.js';
import { checkAgainstTorch, normalisedAsGraph, parameters, randn, unitRows } from './crosscheck.js';
import { torchUnavailable } from './torch.js';

const VARIANTS: readonly { name: string; sets: string[] }[] = [
  { name: 'offset alignment, K-means targets', sets: [] },
  { name: 'RoI alignment', sets: ['alignment=roi'] },
  { name: 'offset alignment, softmax attention with residual', sets: ['attention.sim=softmax', 'attention.residual=true'] },
  { name: 'w/o K-means (feature targets)', sets: ['dense_target=features'] },
  { name: 'MoCo-based, RoI', sets: ['framework=moco', 'alignment=roi', 'moco.queue_size=64'] },
  { name: 'BYOL baseline', sets: ['method=byol'] },
];

const skip = torchUnavailable();

/**
 * One batch from the real pipeline (synthetic scenes, BYOL augmentations, IoU-gated pairs) plus
 * random targets and queues; the boxes go to PyTorch, their alignment inputs to our graph.
 */
async function dataInputs(cfg: MultiSiamConfig, rng: Rng): Promise<{ ours: Map<string, TensorData>; boxes: Map<string, Float32Array> }> {
  // Every variant gets the same IoU-gated crops, so the variants differ only in their graphs.
  const pair = { ...pairOptionsFor(cfg), iouThreshold: 0.5, iouMaxTries: 20 };
  const loader = new PairLoader({ data: await parseDataArg('synthetic:64'), pair, batchSize: cfg.train.batch_size, seed: 3, workers: 0, prefetch: 1 });
  const { batch } = await loader.next();
  await loader.close();
  const ours = new Map(Object.entries(batchFeeds(batch)));
  const b = cfg.train.batch_size;
  const { h, w } = featureMapSize(cfg);
  const s = cfg.data.roi_size;
  const d = cfg.heads.proj_dim;
  const dd = cfg.heads.dense_proj_dim;
  const grid = cfg.alignment === 'roi' ? s * s : h * w;
  for (const v of [1, 2]) {
    ours.set(`target_z${v}`, randn(rng, b * d));
    // Dense targets laid out (B, D, cells): unit vectors per cell, as K-means centroids are.
    const rows = unitRows(rng, b * grid, dd);
    const t = new Float32Array(b * dd * grid);
    for (let i = 0; i < b; i++) for (let c = 0; c < grid; c++) for (let k = 0; k < dd; k++) t[(i * dd + k) * grid + c] = rows[(i * grid + c) * dd + k]!;
    ours.set(`target_dense${v}`, t);
  }
  ours.set('queue_global', unitRows(rng, cfg.moco.queue_size, d));
  ours.set('queue_dense', unitRows(rng, cfg.moco.queue_size, dd));
  return { ours, boxes: new Map([['boxes1', batch.boxes1], ['boxes2', batch.boxes2]]) };
}

/** Shapes of the data tensors sent to PyTorch. */
function dataShape(cfg: MultiSiamConfig, name: string): number[] {
  const b = cfg.train.batch_size;
  const s = cfg.data.image_size;
  const grid = cfg.alignment === 'roi' ? [cfg.data.roi_size, cfg.data.roi_size] : [featureMapSize(cfg).h, featureMapSize(cfg).w];
  if (name.startsWith('view')) return [b, 3, s, s];
  if (name.startsWith('boxes')) return [b, 4];
  if (name.startsWith('target_z')) return [b, cfg.heads.proj_dim];
  if (name.startsWith('target_dense')) return [b, cfg.heads.dense_proj_dim, ...grid];
  if (name === 'queue_global') return [cfg.moco.queue_size, cfg.heads.proj_dim];
  if (name === 'queue_dense') return [cfg.moco.queue_size, cfg.heads.dense_proj_dim];
  return [b];
}

for (const variant of VARIANTS) {
  const title = `grad graph matches PyTorch: ${variant.name}`;
  if (skip) {
    test.skip(`${title} (${skip})`, () => undefined);
    continue;
  }
  test(title, async () => {
    const cfg = resolveConfig({ preset: 'tiny', sets: variant.sets, onWarning: () => undefined });
    const rng = Rng.fromSeed(7);
    const graphs = buildBundleGraphs(cfg);
    const params = parameters(graphs.grad, rng);
    const { ours, boxes } = await dataInputs(cfg, rng);
    // The reference gets the crop boxes instead of ΔC and RoI positions, which it computes itself,
    // and the views exactly as the graph normalises them in float32: the gradients are sensitive
    // enough to a one-ulp change of the input (max-pool ties in the scenes' flat regions) that both
    // sides must start from the same bits. The normalisation itself is checked in graphs/step.test.ts.
    const torchData: TensorMap = new Map();
    for (const [name, data] of [...ours, ...boxes]) {
      if (['offset12', 'roi_pos1', 'roi_pos2', 'box1', 'box2'].includes(name)) continue;
      const values = name.startsWith('view') ? normalisedAsGraph(data as Uint8Array, cfg) : Float32Array.from(data as ArrayLike<number>);
      torchData.set(name, f32(values, dataShape(cfg, name)));
    }
    await checkAgainstTorch({ label: variant.name, cfg, grad: graphs.grad, params, feeds: ours, torchData, tool: 'torch_multisiam.py' });
  });
}

test.run();
