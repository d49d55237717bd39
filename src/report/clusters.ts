/**
 * Cluster maps of the target network for the run report (issue 8 §4), as the paper's figures draw
 * them: a few sample images go through the run's target forward with each chosen checkpoint's
 * `target.*` tensors; the dense map the method clusters (the aligned target map behind its K-means
 * link) is clustered per image with the method's K-means (src/train/kmeans.ts, the run's k and
 * iterations); each cell is coloured by its cluster over the image.
 *
 * The sample view of an image is its largest centred square, resized to the run's view size and not
 * flipped, fed as both views of a pair: both crop boxes are that square, the offset map is zero and
 * the RoI is the whole view, so the map covers the whole view (cell (i, j) over the fraction
 * [j/w, (j+1)/w] × [i/h, (i+1)/h]). Every target-forward input is made from its manifest meaning
 * (docs/bundle.md), as any runtime would. The target network normalises with batch statistics, so
 * the batch is filled by repeating the samples, the same for every checkpoint. Every checkpoint
 * sees the same views and the same K-means seeds, so what changes from column to column is the
 * network; cluster colours follow the previous column's by overlap, so a cluster that persists
 * keeps its colour.
 *
 * Methods whose target network has no dense map (byol, mocov2) have no cluster maps; methods with a
 * dense target but no K-means (pixpro, densecl, multisiam with `dense_target: features`) have their
 * target map clustered with the configuration's `kmeans.k` for the picture.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { GRAPH_FILES, type Bundle, type ManifestValue, readBundleTensors } from '../bundle/bundle.js';
import type { TensorMap } from '../bundle/safetensors.js';
import { featureMapSize } from '../config/derived.js';
import type { MultiSiamConfig } from '../config/schema.js';
import { type Box, writeRoiPositions } from '../data/alignment.js';
import { toUint8 } from '../data/augment.js';
import { cropResize } from '../data/resize.js';
import { Rng } from '../data/rng.js';
import { type DataSpec, openSource } from '../data/sources.js';
import { methodFor } from '../methods/index.js';
import { type TensorData, shapeSize } from '../onnx/dtype.js';
import { Session } from '../runtime/session.js';
import { listCheckpoints, loadCheckpoint } from '../train/checkpoint.js';
import { DenseKMeans } from '../train/kmeans.js';

export interface ClusterOptions {
  /** Sample images (1 … the batch size). */
  readonly samples: number;
  /** Columns at most: the initial tensors and the checkpoints, evenly chosen, the last always in. */
  readonly checkpoints: number;
  /** Where the sample images come from (the run's data). */
  readonly data: DataSpec;
  /** Seeds the K-means initialisation (the same for every column). */
  readonly seed?: number;
}

export interface ClusterColumn {
  readonly step: number;
  readonly label: string;
}

export interface ClusterSample {
  readonly name: string;
  /** The sample view alone, then one cluster map per column: PNG data URLs. */
  readonly view: string;
  readonly maps: readonly string[];
}

export interface ClusterMaps {
  /** The target-forward output that was clustered, and whether the method itself clusters it. */
  readonly output: string;
  readonly methodClusters: boolean;
  readonly k: number;
  readonly iters: number;
  readonly grid: { readonly h: number; readonly w: number };
  readonly columns: readonly ClusterColumn[];
  readonly samples: readonly ClusterSample[];
}

/** Why a run has no cluster maps (its method's target network makes no dense map). */
export interface NoClusterMaps {
  readonly missing: string;
}

/** Distinct colours for clusters, cycled past twelve. */
const PALETTE: readonly (readonly [number, number, number])[] = [
  [230, 25, 75], [60, 180, 75], [0, 130, 200], [255, 225, 25], [145, 30, 180], [70, 240, 240],
  [245, 130, 48], [240, 50, 230], [170, 110, 40], [0, 0, 128], [128, 128, 0], [255, 250, 200],
];
/** Share of the cluster colour in a map pixel. */
const ALPHA = 0.5;
/** Pictures are drawn at least this many pixels wide. */
const MIN_PIXELS = 192;

/** The dense map to cluster: the output behind the method's K-means link, else behind its first dense-target link. */
function clusteredOutput(bundle: Bundle): { output: string; k: number; iters: number; methodClusters: boolean } | null {
  const cfg = bundle.manifest.config;
  // The method's links name the raw map even where the bundle moved the K-means into the target forward.
  const links = methodFor(cfg).targets(cfg);
  for (const link of links) if (link.transform.kind === 'kmeans') return { output: link.output, k: link.transform.k, iters: link.transform.iters, methodClusters: true };
  const dense = bundle.manifest.graphs.train_step.inputs.filter((i) => i.meaning?.kind === 'dense_target').map((i) => i.name);
  const link = links.find((l) => dense.includes(l.input));
  return link ? { output: link.output, k: cfg.kmeans.k, iters: cfg.kmeans.iters, methodClusters: false } : null;
}

/** The columns: step 0 (the bundle's initial tensors) and the checkpoints, at most `n`, evenly spread, the last one kept. */
function chooseColumns(runDir: string, n: number): { step: number; dir: string | null }[] {
  const all = [{ step: 0, dir: null }, ...listCheckpoints(runDir)];
  if (all.length <= n) return all;
  if (n === 1) return [all.at(-1)!];
  return Array.from({ length: n }, (_, i) => all[Math.round((i * (all.length - 1)) / (n - 1))]!);
}

/** The largest centred square of a width×height image, normalised. */
function centredSquare(width: number, height: number): Box {
  const side = Math.min(width, height);
  const [dx, dy] = [(width - side) / 2 / width, (height - side) / 2 / height];
  return [dx, dy, 1 - dx, 1 - dy];
}

/** The feed for a target-forward data input, from its manifest meaning (docs/bundle.md); `boxes` holds each slot's crop box. */
function feedFor(input: ManifestValue, cfg: MultiSiamConfig, views: Uint8Array, boxes: readonly Box[], rng: Rng): TensorData {
  const n = shapeSize(input.shape);
  const batch = input.shape[0]!;
  switch (input.meaning?.kind) {
    case 'image':
      return views;
    case 'flip':
      return new Float32Array(n);
    case 'crop_box':
      return Float32Array.from({ length: n }, (_, i) => boxes[Math.floor(i / 4)]![i % 4]!);
    case 'offset_map':
      // ΔC of a view against itself.
      return new Float32Array(n);
    case 'roi_positions': {
      const { h, w } = featureMapSize(cfg);
      const size = Number(input.meaning.size);
      const out = new Float32Array(n);
      for (let b = 0; b < batch; b++) writeRoiPositions(boxes[b]!, boxes[b]!, h, w, size, out, b * size * size * 2);
      return out;
    }
    case 'pair_weight':
      return new Float32Array(n).fill(1);
    case 'kmeans_uniforms':
      return Float32Array.from({ length: n }, () => rng.next());
    default:
      throw new Error(`report: target_forward input '${input.name}' (${input.meaning ? `meaning ${input.meaning.kind}` : `role ${input.role}`}) is not one the cluster maps know how to feed; rebuild the run's bundle with this multisiam, or report it`);
  }
}

/**
 * `current` relabelled so that each of its clusters takes the label of the `previous` cluster it
 * overlaps most (greedily, largest overlap first); clusters left over take the labels left over.
 */
export function matchLabels(previous: Int32Array, current: Int32Array, k: number): Int32Array {
  const overlap = new Int32Array(k * k);
  for (let n = 0; n < current.length; n++) overlap[current[n]! * k + previous[n]!]!++;
  const to = new Int32Array(k).fill(-1);
  const taken = new Uint8Array(k);
  const order = Array.from({ length: k * k }, (_, i) => i).sort((a, b) => overlap[b]! - overlap[a]! || a - b);
  for (const i of order) {
    const [from, label] = [Math.floor(i / k), i % k];
    if (to[from] === -1 && !taken[label] && overlap[i]! > 0) [to[from], taken[label]] = [label, 1];
  }
  for (let from = 0; from < k; from++) {
    if (to[from] !== -1) continue;
    to[from] = taken.indexOf(0);
    taken[to[from]!] = 1;
  }
  return current.map((c) => to[c]!);
}

/** A PNG data URL of the CHW uint8 view, enlarged, with each pixel's cell coloured by `assign` (B·N cluster ids) when given. */
async function picture(view: Uint8Array, size: number, grid: { h: number; w: number } | null, assign: Int32Array | null): Promise<string> {
  const hwc = Buffer.alloc(3 * size * size);
  for (let c = 0; c < 3; c++) for (let p = 0; p < size * size; p++) hwc[3 * p + c] = view[c * size * size + p]!;
  const side = Math.max(size, Math.ceil(MIN_PIXELS / size) * size);
  const big = await sharp(hwc, { raw: { width: size, height: size, channels: 3 } }).resize(side, side, { kernel: 'cubic' }).raw().toBuffer();
  if (grid && assign) {
    for (let y = 0; y < side; y++) {
      const i = Math.floor((y * grid.h) / side);
      for (let x = 0; x < side; x++) {
        const colour = PALETTE[assign[i * grid.w + Math.floor((x * grid.w) / side)]! % PALETTE.length]!;
        const p = 3 * (y * side + x);
        for (let c = 0; c < 3; c++) big[p + c] = Math.round((1 - ALPHA) * big[p + c]! + ALPHA * colour[c]!);
      }
    }
  }
  // A 256-colour palette keeps a picture near 20 KB, against 80 KB as full-colour PNG.
  const png = await sharp(big, { raw: { width: side, height: side, channels: 3 } }).png({ palette: true }).toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

/** The cluster maps of `bundle`'s run at `runDir` (see the file comment). */
export async function clusterMaps(runDir: string, bundle: Bundle, o: ClusterOptions): Promise<ClusterMaps | NoClusterMaps> {
  const cfg = bundle.manifest.config;
  const target = clusteredOutput(bundle);
  if (!target) return { missing: `${bundle.manifest.method}'s target network makes no dense map (the method has no dense target), so there is nothing to cluster` };
  const graph = bundle.manifest.graphs.target_forward;
  const batch = graph.inputs.find((i) => i.meaning?.kind === 'image')!.shape[0]!;
  if (!(Number.isInteger(o.samples) && o.samples >= 1 && o.samples <= batch)) throw new Error(`--samples ${o.samples}: allowed: an integer in [1, ${batch}] (the run's batch size)`);

  const source = openSource(o.data);
  const size = cfg.data.image_size;
  const picks = Array.from({ length: o.samples }, (_, s) => Math.floor((s * source.count) / o.samples));
  const images = await Promise.all(picks.map((i) => source.load(i)));
  const squares = images.map((image) => centredSquare(image.width, image.height));
  const one = 3 * size * size;
  const samples = images.map((image, s) => {
    const pixels = new Float32Array(one);
    cropResize(image, squares[s]!, size, false, pixels);
    return toUint8(pixels);
  });
  const views = new Uint8Array(batch * one);
  for (let b = 0; b < batch; b++) views.set(samples[b % samples.length]!, b * one);
  const boxes = Array.from({ length: batch }, (_, b) => squares[b % samples.length]!);

  const columns = chooseColumns(runDir, o.checkpoints);
  const session = await Session.create(join(bundle.dir, GRAPH_FILES.target_forward), { ep: 'cpu' }, 'target_forward');
  const assignments: Int32Array[][] = samples.map(() => []);
  let grid = { h: 0, w: 0 };
  try {
    for (const column of columns) {
      const tensors: TensorMap = column.dir === null ? readBundleTensors(bundle) : loadCheckpoint(column.dir).tensors;
      const feedRng = Rng.fromSeed(o.seed ?? 0);
      const feeds: Record<string, TensorData> = {};
      for (const input of graph.inputs) {
        if (input.role === 'data') {
          feeds[input.name] = feedFor(input, cfg, views, boxes, feedRng);
          continue;
        }
        const t = tensors.get(input.name);
        if (!t) throw new Error(`report: ${column.dir ?? bundle.dir} has no tensor '${input.name}', which the target forward needs; is it a checkpoint of this run?`);
        feeds[input.name] = t.data;
      }
      const out = (await session.run(feeds, [target.output]))[target.output]!;
      const [, channels, h, w] = out.dims as [number, number, number, number];
      grid = { h, w };
      const km = new DenseKMeans(channels, h * w, { k: Math.min(target.k, h * w), iters: target.iters });
      const { assignments: all } = km.run((out.data as Float32Array).subarray(0, samples.length * channels * h * w), samples.length, Rng.fromSeed(o.seed ?? 0));
      samples.forEach((_, s) => {
        const mine = all.slice(s * h * w, (s + 1) * h * w);
        const previous = assignments[s]!.at(-1);
        assignments[s]!.push(previous ? matchLabels(previous, mine, km.k) : mine);
      });
    }
  } finally {
    await session.release();
  }
  const drawn = await Promise.all(
    samples.map(async (view, s) => ({
      name: source.itemName(picks[s]!),
      view: await picture(view, size, null, null),
      maps: await Promise.all(assignments[s]!.map((a) => picture(view, size, grid, a))),
    })),
  );
  return {
    output: target.output,
    methodClusters: target.methodClusters,
    k: Math.min(target.k, grid.h * grid.w),
    iters: target.iters,
    grid,
    columns: columns.map((c) => ({ step: c.step, label: c.dir === null ? 'step 0 (initial)' : `step ${c.step}` })),
    samples: drawn,
  };
}
