/**
 * Training bundles on disk (SPEC §3, docs/bundle.md): a directory holding `manifest.json`, the four
 * graphs and `params.safetensors` with the initial state. The manifest lists, for every graph, its
 * inputs and outputs with names, shapes, dtypes, roles and (for data inputs) what they mean, every
 * state tensor with its init, and how the train step's targets come from the target forward, so any
 * ONNX Runtime can drive the bundle without this code.
 *
 * One naming scheme: every state tensor is stored under the name of the graph input it feeds —
 * online parameters and BN statistics under their torchvision-style names (`layer1.0.conv1.weight`),
 * the target network under `target.<name>`, optimizer state under `momentum.<name>`, key queues
 * under their own names (`queue_global`). A step's `next.<name>` output is that tensor's new value.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { MultiSiamConfig } from '../config/schema.js';
import { Rng } from '../data/rng.js';
import { NAMES, NEXT_PREFIX } from '../graphs/io.js';
import type { TargetLink } from '../methods/method.js';
import { CPU_POLICY, type DevicePolicy } from '../onnx/policy.js';
import { shapeSize } from '../onnx/dtype.js';
import type { Graph, Init, InputMeaning, InputRole, ParamGroup } from '../onnx/ir.js';
import { type ValueDescription, writeModel } from '../onnx/serialize.js';
import { type BundleGraphs, buildBundleGraphs } from './graphs.js';
import { type TensorMap, f32, readSafetensors, writeSafetensors } from './safetensors.js';

export const BUNDLE_FORMAT = 'multisiam-bundle';
export const BUNDLE_FORMAT_VERSION = 2;
export const MANIFEST_FILE = 'manifest.json';
export const PARAMS_FILE = 'params.safetensors';

export type GraphKey = 'train_step' | 'grad' | 'target_forward' | 'backbone';
export const GRAPH_FILES: Readonly<Record<GraphKey, string>> = {
  train_step: 'train_step.onnx',
  grad: 'grad.onnx',
  target_forward: 'target_forward.onnx',
  backbone: 'backbone.onnx',
};

/** What an output carries: a loss or metric, a state tensor's next value (by the state's role), a gradient, or a feature map or vector. */
export type OutputRole = 'metric' | 'param' | 'buffer' | 'state' | 'target' | 'queue' | 'grad' | 'feature';

export interface ManifestValue extends Omit<ValueDescription, 'role'> {
  /** Inputs: data, param, buffer, state, target, queue or hyper; outputs: an OutputRole. */
  readonly role: string;
  /** Data inputs: what to feed (docs/bundle.md explains each kind). */
  readonly meaning?: InputMeaning;
}

export interface ManifestGraph {
  readonly file: string;
  readonly inputs: readonly ManifestValue[];
  readonly outputs: readonly ManifestValue[];
  readonly nodes: number;
}

/** A state tensor: the input name it feeds (and is stored under), its shape and how it starts. */
export interface ManifestTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly role: 'param' | 'buffer' | 'state' | 'target' | 'queue';
  /** Parameters only: the optimizer group. */
  readonly group?: ParamGroup;
  /** How the bundle drew its initial value; a `target.` tensor starts as a copy of `copy_of`, momentum as zeros. */
  readonly init: Init | { readonly kind: 'copy'; readonly of: string };
}

export interface Manifest {
  readonly format: typeof BUNDLE_FORMAT;
  readonly format_version: number;
  readonly method: string;
  readonly config: MultiSiamConfig;
  /** The gradient formulations the graphs were built with (`cpu` or `gpu`, src/onnx/policy.ts). */
  readonly device_policy: string;
  readonly graphs: Readonly<Record<GraphKey, ManifestGraph>>;
  /** Every state tensor a step carries, in train_step input order. */
  readonly tensors: readonly ManifestTensor[];
  /** How each target input of train_step is made from target_forward's outputs. */
  readonly targets: readonly TargetLink[];
  /** The loss terms train_step outputs as `loss_<term>`. */
  readonly loss_terms: readonly string[];
  /** The file holding the initial state, keyed by tensor name. */
  readonly params_file: string;
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

export interface WriteBundleOptions {
  /** Gradient formulations for the device the bundle will run on (recorded in the manifest); the CPU's by default. */
  readonly policy?: DevicePolicy;
}

/** Builds the graphs for `cfg` and writes the bundle into `outDir` (replacing it atomically). */
export function writeBundle(cfg: MultiSiamConfig, outDir: string, options: WriteBundleOptions = {}): BuildReport {
  const started = Date.now();
  const policy = options.policy ?? CPU_POLICY;
  const graphs = buildBundleGraphs(cfg, { policy });
  const dir = resolve(outDir);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const files: { file: string; bytes: number }[] = [];
    const described = {} as Record<GraphKey, ManifestGraph>;
    const trainRoles = new Map(graphs.trainStep.inputs.map((i) => [i.value.name, i.role]));
    for (const [key, graph] of graphEntries(graphs)) {
      const file = GRAPH_FILES[key];
      const written = writeModel(graph, { externalDataFile: `${file}.data`, docString: `multisiam ${graphs.method.name} ${key}` });
      writeFileSync(join(tmp, file), written.model);
      files.push({ file, bytes: written.model.length });
      if (written.externalData) {
        writeFileSync(join(tmp, `${file}.data`), written.externalData);
        files.push({ file: `${file}.data`, bytes: written.externalData.length });
      }
      const meanings = new Map(graph.inputs.map((i) => [i.value.name, i.meaning]));
      described[key] = {
        file,
        nodes: written.nodeCount,
        inputs: written.inputs.map((i) => {
          const meaning = meanings.get(i.name);
          return { ...i, role: trainRoles.get(i.name) ?? i.role ?? 'data', ...(meaning ? { meaning } : {}) };
        }),
        outputs: written.outputs.map((o) => ({ ...o, role: outputRole(o.name, graph) })),
      };
    }
    const manifest = manifestFor(cfg, graphs, described, policy.name);
    writeFileSync(join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
    files.push({ file: MANIFEST_FILE, bytes: statSync(join(tmp, MANIFEST_FILE)).size });
    writeSafetensors(join(tmp, PARAMS_FILE), initialTensors(manifest, cfg.train.seed), { format: BUNDLE_FORMAT, method: manifest.method });
    files.push({ file: PARAMS_FILE, bytes: statSync(join(tmp, PARAMS_FILE)).size });
    mkdirSync(dirname(dir), { recursive: true });
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    return { dir, files, buildMs: Date.now() - started };
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
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

/** The initial state of a bundle, keyed by tensor name. */
export function readBundleTensors(bundle: Bundle): TensorMap {
  return readSafetensors(join(bundle.dir, bundle.manifest.params_file)).tensors;
}

function graphEntries(g: BundleGraphs): [GraphKey, Graph][] {
  return [['train_step', g.trainStep], ['grad', g.grad], ['target_forward', g.targetForward], ['backbone', g.backbone]];
}

const STATE_ROLES: ReadonlySet<InputRole> = new Set(['param', 'buffer', 'state', 'target', 'queue']);

function outputRole(name: string, graph: Graph): OutputRole {
  if (name === NAMES.loss || name.startsWith(NAMES.lossTerm('')) || name === NAMES.gradNorm || name === NAMES.finite) return 'metric';
  if (name.startsWith(NEXT_PREFIX)) {
    const role = graph.inputNamed(name.slice(NEXT_PREFIX.length))?.role;
    if (role && STATE_ROLES.has(role)) return role as OutputRole;
    throw new Error(`internal: output '${name}' of graph '${graph.name}' updates no state input`);
  }
  return name.startsWith(NAMES.grad('')) ? 'grad' : 'feature';
}

function manifestFor(cfg: MultiSiamConfig, graphs: BundleGraphs, described: Record<GraphKey, ManifestGraph>, policy: string): Manifest {
  const tensors = graphs.trainStep.inputs
    .filter((i) => STATE_ROLES.has(i.role))
    .map((i): ManifestTensor => {
      const init: ManifestTensor['init'] =
        i.role === 'target' ? { kind: 'copy', of: i.value.name.slice(NAMES.target('').length) } : i.role === 'state' ? { kind: 'constant', value: 0 } : (i.init ?? { kind: 'constant', value: 0 });
      return { name: i.value.name, shape: i.value.shape, role: i.role as ManifestTensor['role'], ...(i.group ? { group: i.group } : {}), init };
    });
  return {
    format: BUNDLE_FORMAT,
    format_version: BUNDLE_FORMAT_VERSION,
    method: graphs.method.name,
    config: cfg,
    device_policy: policy,
    graphs: described,
    tensors,
    targets: graphs.links,
    loss_terms: graphs.trainStep.outputs.filter((o) => o.name.startsWith(NAMES.lossTerm(''))).map((o) => o.name.slice(NAMES.lossTerm('').length)),
    params_file: PARAMS_FILE,
  };
}

/**
 * The initial state: online tensors drawn from their init schemes with a stream per tensor name
 * (adding a layer does not change the others), target tensors copies of the online ones, optimizer
 * state zero, queues random unit rows.
 */
export function initialTensors(manifest: Manifest, seed: number): TensorMap {
  const out: TensorMap = new Map();
  const root = Rng.fromSeed(seed);
  for (const t of manifest.tensors) {
    if (t.init.kind === 'copy') continue;
    out.set(t.name, f32(draw(t.init, t.shape, root.fork(nameKey(t.name))), [...t.shape]));
  }
  for (const t of manifest.tensors) {
    if (t.init.kind !== 'copy') continue;
    const source = out.get(t.init.of);
    if (!source || source.dtype !== 'F32') throw new Error(`internal: target tensor '${t.name}' copies '${t.init.of}', which the bundle does not have`);
    out.set(t.name, f32(source.data.slice(), [...t.shape]));
  }
  return out;
}

function draw(init: Init, shape: readonly number[], rng: Rng): Float32Array {
  const n = shapeSize(shape);
  const out = new Float32Array(n);
  if (init.kind === 'unit_rows') {
    const dim = shape.at(-1) ?? 1;
    for (let r = 0; r < n / dim; r++) {
      const row = out.subarray(r * dim, (r + 1) * dim);
      let ss = 0;
      for (let i = 0; i < dim; i++) {
        row[i] = rng.normal();
        ss += row[i]! * row[i]!;
      }
      const inv = 1 / Math.max(Math.sqrt(ss), 1e-12);
      for (let i = 0; i < dim; i++) row[i]! *= inv;
    }
    return out;
  }
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
