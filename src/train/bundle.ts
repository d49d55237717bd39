/**
 * Training bundles on disk (SPEC §3): a directory holding `manifest.json`, the four graphs and
 * `params.safetensors` with the initial online, target and optimizer tensors. The manifest lists,
 * for every graph, its inputs and outputs with names, shapes, dtypes and roles, and every
 * parameter with its torchvision-style name, shape and optimizer group, so any ONNX Runtime can run
 * the bundle without this code.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { MultiSiamConfig } from '../config/index.js';
import { type BundleGraphs, buildBundleGraphs } from '../graphs/bundle.js';
import { MOMENTUM_PREFIX } from '../graphs/optimizers.js';
import { methodFor } from '../graphs/methods/index.js';
import { shapeSize } from '../onnx/dtype.js';
import { type Init, NEXT_PREFIX } from '../onnx/ir.js';
import type { Graph } from '../onnx/ir.js';
import { type ValueDescription, writeModel } from '../onnx/serialize.js';
import { Rng } from '../data/rng.js';
import { type TensorMap, f32, readSafetensors, writeSafetensors } from './safetensors.js';

export const BUNDLE_FORMAT = 'multisiam-bundle';
export const BUNDLE_FORMAT_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
export const PARAMS_FILE = 'params.safetensors';

export type GraphKey = 'train_step' | 'grad' | 'target_forward' | 'backbone';
export const GRAPH_FILES: Readonly<Record<GraphKey, string>> = {
  train_step: 'train_step.onnx',
  grad: 'grad.onnx',
  target_forward: 'target_forward.onnx',
  backbone: 'backbone.onnx',
};

/** What an output carries: a loss or metric, an updated tensor, a gradient, or a computed feature. */
export type OutputRole = 'metric' | 'param' | 'buffer' | 'state' | 'grad' | 'target' | 'feature';

export interface ManifestValue extends Omit<ValueDescription, 'role'> {
  /** Inputs: data, param, buffer, state, hyper or queue; outputs: an OutputRole. */
  readonly role: string;
}

export interface ManifestGraph {
  readonly file: string;
  readonly inputs: readonly ManifestValue[];
  readonly outputs: readonly ManifestValue[];
  readonly nodes: number;
}

export interface ManifestTensor {
  readonly name: string;
  readonly shape: readonly number[];
  /** Parameters only. */
  readonly group?: 'decay' | 'no_decay';
  readonly init: Init;
  /** Whether the target network has this tensor too (the EMA pairs them by name). */
  readonly target: boolean;
}

export interface Manifest {
  readonly format: typeof BUNDLE_FORMAT;
  readonly format_version: number;
  readonly method: string;
  readonly config: MultiSiamConfig;
  readonly graphs: Readonly<Record<GraphKey, ManifestGraph>>;
  readonly params: readonly ManifestTensor[];
  readonly buffers: readonly ManifestTensor[];
  /** Optimizer state inputs of train_step (`momentum.<param>`). */
  readonly state: readonly { readonly name: string; readonly shape: readonly number[] }[];
  /** Keys of params.safetensors: `online.<name>`, `target.<name>`, `<state name>`. */
  readonly tensors: string;
}

export interface Bundle {
  readonly dir: string;
  readonly manifest: Manifest;
}

export interface BuildReport {
  readonly dir: string;
  readonly files: readonly { readonly file: string; readonly bytes: number }[];
  readonly buildMs: number;
}

/** Builds the graphs for `cfg` and writes the bundle into `outDir` (replacing it atomically). */
export function writeBundle(cfg: MultiSiamConfig, outDir: string): BuildReport {
  const started = Date.now();
  const graphs = buildBundleGraphs(cfg);
  const dir = resolve(outDir);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const files: { file: string; bytes: number }[] = [];
  const described = {} as Record<GraphKey, ManifestGraph>;
  for (const [key, graph] of graphEntries(graphs)) {
    const file = GRAPH_FILES[key];
    const written = writeModel(graph, { externalDataFile: `${file}.data`, docString: `multisiam ${graphs.method} ${key}` });
    writeFileSync(join(tmp, file), written.model);
    files.push({ file, bytes: written.model.length });
    if (written.externalData) {
      writeFileSync(join(tmp, `${file}.data`), written.externalData);
      files.push({ file: `${file}.data`, bytes: written.externalData.length });
    }
    described[key] = {
      file,
      nodes: written.nodeCount,
      inputs: written.inputs.map((i) => ({ ...i, role: i.role ?? 'data' })),
      outputs: written.outputs.map((o) => ({ ...o, role: outputRole(o.name, graph) })),
    };
  }
  const manifest = manifestFor(cfg, graphs, described);
  writeFileSync(join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  files.push({ file: MANIFEST_FILE, bytes: statSync(join(tmp, MANIFEST_FILE)).size });
  const tensors = initialTensors(manifest, cfg.train.seed);
  writeSafetensors(join(tmp, PARAMS_FILE), tensors, { format: BUNDLE_FORMAT, method: manifest.method });
  files.push({ file: PARAMS_FILE, bytes: statSync(join(tmp, PARAMS_FILE)).size });
  mkdirSync(dirname(dir), { recursive: true });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { dir, files, buildMs: Date.now() - started };
}

/** Reads and checks a bundle's manifest; errors name the directory and what is wrong. */
export function readBundle(dir: string): Bundle {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) throw new Error(`'${dir}' is not a multisiam bundle: ${MANIFEST_FILE} is missing (create one with \`multisiam build --out ${dir}\`)`);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (manifest.format !== BUNDLE_FORMAT) throw new Error(`${path}: format is '${String(manifest.format)}', expected '${BUNDLE_FORMAT}'`);
  if (manifest.format_version !== BUNDLE_FORMAT_VERSION) {
    throw new Error(`${path}: bundle format version ${manifest.format_version} is not supported (this multisiam reads version ${BUNDLE_FORMAT_VERSION}); rebuild it with \`multisiam build\``);
  }
  for (const key of Object.keys(GRAPH_FILES) as GraphKey[]) {
    const file = join(dir, manifest.graphs[key]?.file ?? GRAPH_FILES[key]);
    if (!existsSync(file)) throw new Error(`bundle '${dir}': graph file ${file} is missing`);
  }
  return { dir, manifest };
}

/** The initial tensors of a bundle. */
export function readBundleTensors(bundle: Bundle): TensorMap {
  return readSafetensors(join(bundle.dir, bundle.manifest.tensors)).tensors;
}

function graphEntries(g: BundleGraphs): [GraphKey, Graph][] {
  return [['train_step', g.trainStep], ['grad', g.grad], ['target_forward', g.targetForward], ['backbone', g.backbone]];
}

function outputRole(name: string, graph: Graph): OutputRole {
  if (name.startsWith('loss') || name === 'grad_norm') return 'metric';
  if (name.startsWith(NEXT_PREFIX + MOMENTUM_PREFIX)) return 'state';
  if (name.startsWith(NEXT_PREFIX)) return graph.inputNamed(name.slice(NEXT_PREFIX.length))?.role === 'buffer' ? 'buffer' : 'param';
  if (name.startsWith('grad.')) return 'grad';
  return graph.name === 'target_forward' ? 'target' : 'feature';
}

function manifestFor(cfg: MultiSiamConfig, graphs: BundleGraphs, described: Record<GraphKey, ManifestGraph>): Manifest {
  const onlineOnly = methodFor(cfg).onlineOnly;
  const inTarget = (name: string): boolean => !onlineOnly.some((p) => name.startsWith(p));
  const tensors = (role: 'param' | 'buffer'): ManifestTensor[] =>
    graphs.trainStep.inputs
      .filter((i) => i.role === role)
      .map((i) => ({
        name: i.value.name,
        shape: i.value.shape,
        ...(i.group ? { group: i.group } : {}),
        init: i.init ?? { kind: 'constant', value: 0 },
        target: inTarget(i.value.name),
      }));
  return {
    format: BUNDLE_FORMAT,
    format_version: BUNDLE_FORMAT_VERSION,
    method: graphs.method,
    config: cfg,
    graphs: described,
    params: tensors('param'),
    buffers: tensors('buffer'),
    state: graphs.trainStep.inputs.filter((i) => i.role === 'state').map((i) => ({ name: i.value.name, shape: i.value.shape })),
    tensors: PARAMS_FILE,
  };
}

/**
 * Online tensors drawn from their init schemes with a stream per tensor name (adding a layer does
 * not change the others), the target a copy of the online network, optimizer state zero.
 */
export function initialTensors(manifest: Manifest, seed: number): TensorMap {
  const out: TensorMap = new Map();
  const root = Rng.fromSeed(seed);
  for (const t of [...manifest.params, ...manifest.buffers]) {
    const data = draw(t.init, shapeSize(t.shape), root.fork(nameKey(t.name)));
    out.set(`online.${t.name}`, f32(data, [...t.shape]));
    if (t.target) out.set(`target.${t.name}`, f32(data.slice(), [...t.shape]));
  }
  for (const s of manifest.state) out.set(s.name, f32(new Float32Array(shapeSize(s.shape)), [...s.shape]));
  return out;
}

function draw(init: Init, n: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = init.kind === 'constant' ? init.value : init.kind === 'normal' ? init.std * rng.normal() : rng.uniform(-init.bound, init.bound);
  }
  return out;
}

/** A stable 32-bit key for a tensor name (FNV-1a). */
function nameKey(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
