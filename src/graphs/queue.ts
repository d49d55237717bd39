/**
 * MoCo key queues inside the graphs (SPEC §2.7 MoCo bullet, §2.9): a queue is state (L, D) carried
 * from step to step like a BN buffer; a step reads it as negatives, then overwrites the oldest rows
 * with this step's L2-normalised keys. Which rows are the oldest is the caller's bookkeeping: it
 * feeds `<queue>.rows` (int64, one row index per key) and advances its pointer when it adopts the
 * step, so a skipped step enqueues nothing.
 */
import { l2Normalize } from '../onnx/composite/math.js';
import type { Graph, Value } from '../onnx/ir.js';
import { expand } from '../onnx/ops/Expand.js';
import { scatterElements } from '../onnx/ops/ScatterElements.js';
import { stopGradient } from '../onnx/ops/StopGradient.js';
import { unsqueeze } from '../onnx/ops/Unsqueeze.js';
import { NAMES } from './io.js';

/** A queue of `length` unit keys of `dim` channels, starting as random unit vectors (MoCo's init). */
export function declareQueue(g: Graph, name: string, length: number, dim: number): Value {
  return g.queue(name, [length, dim]);
}

/** Records that `keys` (n, D) replace rows `<queue>.rows` of `queue` once the step is adopted. */
export function enqueue(queue: Value, keys: Value): void {
  const g = queue.graph;
  const [n, d] = keys.shape as [number, number];
  const rows = g.input(NAMES.queueRows(queue.name), 'int64', [n], 'data', { kind: 'queue_rows', queue: queue.name, keys: n });
  const indices = expand(unsqueeze(rows, [1]), [n, d]);
  g.updateBuffer(queue, scatterElements(queue, indices, l2Normalize(stopGradient(keys), 1)));
}
