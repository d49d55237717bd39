/**
 * The tensors a run carries from step to step: the online network (parameters and BN buffers), the
 * target network (its EMA), the optimizer state and, for MoCo, the key queues. One map per part,
 * keyed by the graphs' input names; checkpoints and bundles store them with a prefix per part.
 */
import type { Manifest } from './bundle.js';
import { type NamedTensors, emaUpdate } from './ema.js';
import { KeyQueue } from './queue.js';
import { type TensorMap, f32 } from './safetensors.js';

export interface TrainingState {
  readonly online: NamedTensors;
  readonly target: NamedTensors;
  readonly optimizer: NamedTensors;
  readonly queues: Map<string, KeyQueue>;
}

const ONLINE = 'online.';
const TARGET = 'target.';
const QUEUE = 'queue.';

/** Reads the state out of a bundle's params.safetensors or a checkpoint (same layout). */
export function stateFromTensors(tensors: TensorMap, manifest: Manifest, where: string): TrainingState {
  const take = (key: string): Float32Array => {
    const t = tensors.get(key);
    if (!t || t.dtype !== 'F32') throw new Error(`${where}: tensor '${key}' is missing or not float32`);
    return t.data;
  };
  const online: NamedTensors = new Map();
  const target: NamedTensors = new Map();
  for (const t of [...manifest.params, ...manifest.buffers]) {
    online.set(t.name, take(ONLINE + t.name));
    if (t.target) target.set(t.name, take(TARGET + t.name));
  }
  const optimizer: NamedTensors = new Map(manifest.state.map((s) => [s.name, take(s.name)]));
  const queues = new Map<string, KeyQueue>();
  for (const input of manifest.graphs.train_step.inputs.filter((i) => i.role === 'queue')) {
    const buffer = tensors.get(QUEUE + input.name);
    const pointer = tensors.get(`${QUEUE}${input.name}.pointer`);
    if (buffer?.dtype === 'F32' && pointer?.dtype === 'I64') {
      queues.set(input.name, KeyQueue.restore({ buffer: buffer.data, pointer: Number(pointer.data[0]) }, input.shape[0]!, input.shape[1]!));
    }
  }
  return { online, target, optimizer, queues };
}

/** The state as safetensors entries (the layout `stateFromTensors` reads). */
export function stateToTensors(state: TrainingState, manifest: Manifest): TensorMap {
  const out: TensorMap = new Map();
  const shapes = new Map([...manifest.params, ...manifest.buffers, ...manifest.state].map((t) => [t.name, [...t.shape]]));
  for (const [name, data] of state.online) out.set(ONLINE + name, f32(data, shapes.get(name)!));
  for (const [name, data] of state.target) out.set(TARGET + name, f32(data, shapes.get(name)!));
  for (const [name, data] of state.optimizer) out.set(name, f32(data, shapes.get(name)!));
  for (const [name, queue] of state.queues) {
    const snap = queue.snapshot();
    out.set(QUEUE + name, f32(snap.buffer, [queue.length, queue.dim]));
    out.set(`${QUEUE}${name}.pointer`, { dtype: 'I64', shape: [1], data: BigInt64Array.of(BigInt(snap.pointer)) });
  }
  return out;
}

/** target ← τ·target + (1 − τ)·online over the tensors the target network has (parameters and BN statistics). */
export function updateTarget(state: TrainingState, tau: number): void {
  const online: NamedTensors = new Map([...state.target.keys()].map((k) => [k, state.online.get(k)!]));
  emaUpdate(state.target, online, tau);
}
