/**
 * The baselines (MoCo-v2, DenseCL, PixPro with and without its instance branch) on the tiny preset:
 * loss and gradients of the bundle's grad graph against an independent PyTorch implementation
 * (tools/torch_baselines.py, float64, written after the authors' code) on the same parameters and
 * inputs; error measures and tolerances as for MultiSiam (test/graphs/crosscheck.ts).
 *
 * The data inputs come from the real pipeline (synthetic scenes, the method's own crop pairs and
 * augmentations); the PyTorch side gets the crop boxes and flips, so PixPro's positive-pair mask,
 * computed in our graph from them, is checked too. What the target network would produce is random
 * here (a stop-gradient input either way): projections N(0, 1), DenseCL's key backbone maps |N(0, 1)|
 * (after a ReLU), queues of unit rows. The queues are shortened to 64 keys to keep PyTorch quick.
 */
import { test } from 'uvu';
import type { MultiSiamConfig } from '../../src/config/index.js';
import { resolveConfig } from '../../src/methods/index.js';
import { PairLoader } from '../../src/data/loader.js';
import { parseDataArg } from '../../src/data/sources.js';
import { Rng } from '../../src/data/rng.js';
import type { TensorData } from '../../src/onnx/dtype.js';
import type { Graph } from '../../src/onnx/ir.js';
import { type TensorMap, f32 } from '../../src/bundle/safetensors.js';
import { buildBundleGraphs } from '../../src/bundle/graphs.js';
import { NAMES } from '../../src/graphs/io.js';
import { batchFeeds, pairOptionsFor } from '../../src/train/data.js';
import { checkAgainstTorch, normalisedAsGraph, parameters, randn, unitRows } from '../graphs/crosscheck.js';
import { torchUnavailable } from '../graphs/torch.js';

const VARIANTS: readonly { name: string; sets: string[] }[] = [
  { name: 'MoCo-v2', sets: ['method=mocov2', 'moco.queue_size=64'] },
  { name: 'DenseCL', sets: ['method=densecl', 'moco.queue_size=64'] },
  { name: 'PixPro', sets: ['method=pixpro'] },
  { name: 'PixPro with the instance branch', sets: ['method=pixpro', 'loss.w_global=1'] },
];

const skip = torchUnavailable();

/**
 * Feeds for every data input of `grad`: the batch's tensors, and random stand-ins for what the
 * target network and the queues provide, chosen by each input's declared role and meaning.
 */
function standIns(grad: Graph, rng: Rng): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const i of grad.inputs) {
    const n = i.value.size;
    const kind = i.meaning?.kind;
    if (i.role === 'queue') out.set(i.value.name, unitRows(rng, i.value.shape[0]!, i.value.shape[1]!));
    else if (kind === 'global_target' || kind === 'dense_target') out.set(i.value.name, randn(rng, n));
    else if (kind === 'target_features') out.set(i.value.name, randn(rng, n).map(Math.abs));
  }
  return out;
}

async function dataInputs(cfg: MultiSiamConfig, grad: Graph, rng: Rng): Promise<{ feeds: Map<string, TensorData>; torchData: TensorMap }> {
  const loader = new PairLoader({ data: await parseDataArg('synthetic:64'), pair: pairOptionsFor(cfg), batchSize: cfg.train.batch_size, seed: 3, workers: 0, prefetch: 1 });
  const { batch } = await loader.next();
  await loader.close();
  const feeds = new Map<string, TensorData>(Object.entries(batchFeeds(batch)));
  const shapes = new Map(grad.inputs.map((i) => [i.value.name, [...i.value.shape]]));
  const torchData: TensorMap = new Map();
  for (const [name, data] of standIns(grad, rng)) {
    feeds.set(name, data);
    torchData.set(name, f32(data, shapes.get(name)!));
  }
  const b = cfg.train.batch_size;
  for (const v of [1, 2] as const) {
    torchData.set(`view${v}`, f32(normalisedAsGraph(feeds.get(NAMES.view(v)) as Uint8Array, cfg), shapes.get(NAMES.view(v))!));
    torchData.set(`flip${v}`, f32(feeds.get(NAMES.flip(v)) as Float32Array, [b]));
    torchData.set(`boxes${v}`, f32(feeds.get(NAMES.box(v)) as Float32Array, [b, 4]));
  }
  return { feeds, torchData };
}

for (const variant of VARIANTS) {
  const title = `grad graph matches PyTorch: ${variant.name}`;
  if (skip) {
    test.skip(`${title} (${skip})`, () => undefined);
    continue;
  }
  test(title, async () => {
    const cfg = resolveConfig({ preset: 'tiny', sets: variant.sets, onWarning: () => undefined });
    const rng = Rng.fromSeed(11);
    const graphs = buildBundleGraphs(cfg);
    const params = parameters(graphs.grad, rng);
    const { feeds, torchData } = await dataInputs(cfg, graphs.grad, rng);
    await checkAgainstTorch({ label: variant.name, cfg, grad: graphs.grad, params, feeds, torchData, tool: 'torch_baselines.py' });
  });
}

test.run();
