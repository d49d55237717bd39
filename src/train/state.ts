/**
 * The tensors a run carries from step to step — online parameters and BN statistics, optimizer
 * state, the target network, key queues — held in a TensorStore under the names of the graph inputs
 * they feed (the bundle's one naming scheme, src/bundle/bundle.ts). Between steps they stay where
 * the step left them (device memory with a resident runtime); a checkpoint reads them back.
 */
import type { Manifest } from '../bundle/bundle.js';
import { type TensorMap, f32 } from '../bundle/safetensors.js';
import { shapeSize } from '../onnx/dtype.js';
import { Resident, TensorStore, readMany } from '../runtime/residency.js';

/** A store holding every state tensor of `manifest` from `tensors` (a bundle's initial state or a checkpoint). */
export function stateFromTensors(tensors: TensorMap, manifest: Manifest, where: string): TensorStore {
  const store = new TensorStore();
  for (const t of manifest.tensors) {
    const found = tensors.get(t.name);
    if (!found || found.dtype !== 'F32') throw new Error(`${where}: tensor '${t.name}' is missing or not float32`);
    if (found.data.length !== shapeSize(t.shape)) {
      throw new Error(`${where}: tensor '${t.name}' has ${found.data.length} values, the bundle's graphs expect [${t.shape.join(', ')}]`);
    }
    store.set(t.name, found.data);
  }
  return store;
}

/** Every state tensor, read back to the host in one go, as safetensors entries (the layout stateFromTensors reads). */
export async function stateToTensors(store: TensorStore, manifest: Manifest): Promise<TensorMap> {
  const values = manifest.tensors.map((t) => store.get(t.name));
  const residents = values.filter((v): v is Resident => v instanceof Resident);
  const downloaded = new Map(residents.map((r, i) => [r, i]));
  const data = await readMany(residents);
  const out: TensorMap = new Map();
  manifest.tensors.forEach((t, i) => {
    const v = values[i]!;
    out.set(t.name, f32((v instanceof Resident ? data[downloaded.get(v)!]! : v) as Float32Array, [...t.shape]));
  });
  return out;
}
