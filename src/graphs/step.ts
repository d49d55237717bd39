/**
 * What a train step does after the optimizer update, so that a whole training step runs as one graph
 * on the device and only metrics come back:
 * - the target network follows the online one, target ← τ·target + (1 − τ)·online, over every
 *   online tensor the target has (parameters and BN statistics, paired by name), with τ fed each
 *   step as `target_momentum`;
 * - `finite` says whether the loss, the gradient norm and every updated tensor are finite. The
 *   graph is functional (new tensors out, inputs untouched), so skipping a bad step is the caller
 *   keeping the tensors it fed instead of adopting the `next.*` outputs.
 */
import { GraphError } from '../onnx/errors.js';
import type { Graph, Value } from '../onnx/ir.js';
import { add, cast, equal, mul, reduceSumSquare, sub } from '../onnx/ops/index.js';
import { NAMES, NEXT_PREFIX } from './io.js';
import { hyperInput } from './optimizers.js';

/** The value the step outputs as `next.<name>`. */
function nextValue(graph: Graph, name: string): Value {
  const out = graph.outputs.find((o) => o.name === NAMES.next(name));
  if (!out) throw new GraphError(`target update: graph '${graph.name}' has no output '${NAMES.next(name)}' for online tensor '${name}'`);
  return out.value;
}

/**
 * Declares `target.<name>` (role 'target') for every parameter and buffer not under one of
 * `onlineOnly`'s prefixes and outputs `next.target.<name>` = τ·target + (1 − τ)·next online value.
 * Returns the target tensor names.
 */
export function appendTargetUpdate(graph: Graph, onlineOnly: readonly string[]): string[] {
  const tau = hyperInput(graph, NAMES.targetMomentum);
  const rest = sub(1, tau);
  const online = graph.inputs.filter((i) => (i.role === 'param' || i.role === 'buffer') && !onlineOnly.some((p) => i.value.name.startsWith(p)));
  return online.map(({ value }) => {
    const target = graph.input(NAMES.target(value.name), 'float32', value.shape, 'target');
    graph.output(NAMES.next(target.name), add(mul(target, tau), mul(nextValue(graph, value.name), rest)));
    return target.name;
  });
}

/** Outputs `finite`: 1 when `loss`, `grad_norm` and every `next.*` output so far are finite, else 0. */
export function appendFiniteCheck(graph: Graph): void {
  const checked = graph.outputs.filter((o) => o.name.startsWith(NEXT_PREFIX) || o.name === NAMES.loss || o.name === NAMES.gradNorm).map((o) => o.value);
  // Σ of squares overflows to +inf on any inf and stays NaN on any NaN; ·0 maps both to NaN and
  // every finite total to 0, and NaN ≠ 0.
  const total = checked.map((v) => reduceSumSquare(v)).reduce((a, b) => add(a, b));
  graph.output(NAMES.finite, cast(equal(mul(total, 0), 0), 'float32'));
}
