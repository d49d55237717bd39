/**
 * The frozen backbone the probe reads features from, as an ONNX inference model with dynamic batch
 * and image size: a run's checkpoint or a bundle's tensors are turned into exactly the model
 * `multisiam export --format onnx` writes (src/export/onnx.ts), and `--onnx FILE` is such a model.
 * Both then go through the same reader (metadata → preprocessing and provenance), so the probe on
 * a run and on its export compute the same features and report the same numbers.
 *
 * src/runtime's Session checks every feed against the model's declared input shape and has no
 * notion of a symbolic dimension, so the probe runs a copy whose `image` input is declared at the
 * one batch and size it feeds (`fixedInput`); the other dimensions and the weights are untouched.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { NETWORKS, type Network } from '../export/backbone.js';
import { backboneOnnx } from '../export/onnx.js';
import { loadBackbone } from '../export/source.js';
import { type ModelMsg, decodeModel, encodeModel } from '../onnx/proto.js';
import { RUN_BUNDLE } from '../train/run.js';

export interface BackboneChoice {
  readonly run?: string;
  readonly step?: number;
  readonly bundle?: string;
  readonly onnx?: string;
  /** The initial tensors of the run's (or the given) bundle instead of the trained ones. */
  readonly randomInit?: boolean;
  /** online (default) or target; not for --onnx, whose file holds one network. */
  readonly network?: Network;
}

/** Where the weights came from, as the export recorded it (null where an ONNX file does not say); named as probe.json writes it. */
export interface BackboneInfo {
  readonly source: string;
  readonly dir: string | null;
  readonly step: number | null;
  readonly method: string | null;
  readonly network: string | null;
  readonly config_hash: string | null;
  readonly random_init: boolean;
}

export interface ProbeBackbone {
  /** The ONNX model, decoded: `image` (N, 3, H, W) → `features` (N, C, h, w). */
  readonly model: ModelMsg;
  /** Per-channel normalisation of [0, 1] RGB the network expects. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly info: BackboneInfo;
}

/** Refuses flags that do not go together, before anything is read; every error names the flag and what to do. */
export function checkBackboneChoice(c: BackboneChoice): void {
  const given = (['run', 'bundle', 'onnx'] as const).filter((k) => c[k] !== undefined);
  if (given.length !== 1) {
    throw new Error(`choose one backbone: --run RUN (a training run), --bundle DIR (a bundle's initial weights) or --onnx FILE (from \`multisiam export --format onnx\`)${given.length > 1 ? `, not ${given.map((k) => `--${k}`).join(' and ')}` : ''}`);
  }
  if (c.network !== undefined && !NETWORKS.includes(c.network)) throw new Error(`--network ${c.network}: choose ${NETWORKS.join(' or ')}`);
  if (c.onnx !== undefined) {
    if (c.network !== undefined) throw new Error(`--network picks a network of a run or bundle; ${c.onnx} holds the one it was exported with (export the other with \`multisiam export --network\`)`);
    if (c.randomInit) throw new Error(`--random-init takes the initial weights of a bundle, which an ONNX file does not hold; use --run RUN --random-init or --bundle DIR`);
    if (c.step !== undefined) throw new Error('--step picks a checkpoint of a run: use it with --run RUN, not with --onnx');
  }
  if (c.randomInit && c.step !== undefined) throw new Error('--step picks a trained checkpoint; --random-init uses the initial weights, so give one or the other');
}

/** Resolves the flags to a backbone model; every error names the flag or file and what to do. */
export function probeBackbone(c: BackboneChoice): ProbeBackbone {
  checkBackboneChoice(c);
  const randomInit = c.randomInit ?? false;
  if (c.onnx !== undefined) return fromOnnx(readOnnx(c.onnx), c.onnx, false);
  const network = c.network ?? 'online';
  if (randomInit && c.run !== undefined) {
    // A run's bundle holds the tensors its training started from.
    if (!existsSync(c.run)) throw new Error(`--run ${c.run}: no such directory; pass the --out of a \`multisiam train\` run`);
    const bundle = join(c.run, RUN_BUNDLE);
    if (!existsSync(bundle)) throw new Error(`--run ${c.run}: ${bundle} is missing, so the run's initial weights are unknown; pass the bundle it was trained from with --bundle DIR --random-init`);
    return fromOnnx(backboneOnnx(loadBackbone({ bundle, network })), bundle, true);
  }
  const backbone = loadBackbone({ ...(c.run !== undefined ? { run: c.run } : {}), ...(c.step !== undefined ? { step: c.step } : {}), ...(c.bundle !== undefined ? { bundle: c.bundle } : {}), network });
  // A bundle's tensors are its initial ones, so --bundle is the random-init floor with or without the flag.
  return fromOnnx(backboneOnnx(backbone), c.run ?? c.bundle!, randomInit || c.bundle !== undefined);
}

function readOnnx(path: string): Uint8Array {
  if (!existsSync(path)) throw new Error(`--onnx ${path}: no such file; write one with \`multisiam export --run RUN --format onnx --out ${path}\``);
  if (statSync(path).isDirectory()) throw new Error(`--onnx ${path}: is a directory; give the .onnx file (\`multisiam export --format onnx\` writes one)`);
  return readFileSync(path);
}

/** Reads the preprocessing and provenance from the model's metadata (src/export/backbone.ts `exportMetadata`). */
function fromOnnx(model: Uint8Array, where: string, randomInit: boolean): ProbeBackbone {
  let decoded: ModelMsg;
  try {
    decoded = decodeModel(model);
  } catch (e) {
    throw new Error(`--onnx ${where}: not an ONNX model (${(e as Error).message}); write one with \`multisiam export --format onnx\``);
  }
  const inputs = decoded.graph?.input.map((i) => i.name) ?? [];
  const outputs = decoded.graph?.output.map((o) => o.name) ?? [];
  if (!inputs.includes('image') || !outputs.includes('features')) {
    throw new Error(`${where}: the model has inputs [${inputs.join(', ')}] and outputs [${outputs.join(', ')}]; the probe needs a backbone with input 'image' and output 'features', as \`multisiam export --format onnx\` writes`);
  }
  const meta = new Map((decoded.metadataProps ?? []).map((p) => [p.key, p.value]));
  const vector = (key: string): number[] => {
    const text = meta.get(key);
    const v: unknown = text === undefined ? undefined : JSON.parse(text);
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number')) {
      throw new Error(`${where}: metadata '${key}' is ${text === undefined ? 'missing' : `'${text}'`}, not three numbers; the probe normalises images with it (export the model with \`multisiam export --format onnx\`)`);
    }
    return v as number[];
  };
  const text = (key: string): string | null => meta.get(key) ?? null;
  const step = text('source.step');
  return {
    model: decoded,
    mean: vector('preprocessing.mean'),
    std: vector('preprocessing.std'),
    info: {
      source: text('source') ?? 'onnx',
      dir: text('source.dir'),
      step: step === null ? null : Number(step),
      method: text('source.method'),
      network: text('source.network'),
      config_hash: text('source.config_hash'),
      random_init: randomInit,
    },
  };
}

/** The model's bytes with input `image` declared as `dims` (see the file comment). */
export function fixedInput(backbone: ProbeBackbone, dims: readonly number[]): Uint8Array {
  const graph = backbone.model.graph;
  const input = graph.input.map((i) => (i.name === 'image' ? { ...i, type: { tensorType: { ...i.type.tensorType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } } : i));
  return encodeModel({ ...backbone.model, graph: { ...graph, input } });
}
