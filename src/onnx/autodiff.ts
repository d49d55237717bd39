/**
 * Reverse-mode differentiation over the IR. `grad` appends backward nodes (standard ONNX ops only)
 * to the same graph. The engine owns what every rule would otherwise repeat:
 * - symbolic zeros: a missing cotangent is null, rules are skipped for nodes with none;
 * - pruning: only nodes on a path from a `wrt` value to an output are visited, and a rule is told
 *   which inputs need gradients (`needed`);
 * - unbroadcasting: a rule may return a cotangent of the broadcast shape; the engine sums it back;
 * - accumulation where a value fans out, and a shape/dtype check of every returned cotangent.
 */
import { scalar } from './constant.js';
import { formatShape, isFloat } from './dtype.js';
import { GradError } from './errors.js';
import type { Node, Value } from './ir.js';
import { CPU_POLICY, type DevicePolicy } from './policy.js';
import { descendants } from './reach.js';
import { broadcastAxes, sameShape } from './shape.js';
import { add } from './ops/Add.js';
import { expand } from './ops/Expand.js';
import { reduceSum } from './ops/ReduceSum.js';
import { reshape } from './ops/Reshape.js';

export interface GradOptions {
  /** Cotangents of the outputs; defaults to 1 for each output, which must then be a scalar. */
  readonly seeds?: readonly Value[];
  /** Gradient formulations for the device the graph will run on (policy.ts); the CPU's by default. */
  readonly policy?: DevicePolicy;
}

/** Gradients of Σ outputs·seeds with respect to each of `wrt` (zeros where there is no path). */
export function grad(outputs: Value | readonly Value[], wrt: readonly Value[], options: GradOptions = {}): Value[] {
  const outs = Array.isArray(outputs) ? (outputs as readonly Value[]) : [outputs as Value];
  const graph = outs[0]?.graph;
  if (!graph) throw new GradError('grad: no outputs given');
  for (const v of [...outs, ...wrt]) graph.owns(v, 'grad');
  const seeds = options.seeds ?? outs.map((o) => seedOne(o));
  if (seeds.length !== outs.length) throw new GradError(`grad: ${outs.length} outputs but ${seeds.length} seeds`);

  const nodes = graph.nodes.slice(); // backward nodes appended below are not revisited
  const dependsOnWrt = descendants(graph, wrt, nodes);
  const cotangents = new Map<Value, Value>();
  outs.forEach((o, i) => {
    const s = seeds[i]!;
    if (!sameShape(s.shape, o.shape) || s.dtype !== o.dtype) {
      throw new GradError(`grad: seed ${s} does not match output ${o}`);
    }
    accumulate(cotangents, o, s);
  });

  for (let n = nodes.length - 1; n >= 0; n--) {
    const node = nodes[n]!;
    const gs = node.outputs.map((o) => cotangents.get(o) ?? null);
    if (gs.every((g) => g === null)) continue;
    const needed = neededInputs(node, dependsOnWrt);
    if (!needed.some(Boolean)) continue;
    graph.inGradientOf(node, () => {
      const results = runRule(node, gs, needed, options.policy ?? CPU_POLICY);
      node.inputs.forEach((input, i) => {
        const g = results[i];
        if (input && needed[i] && g) accumulate(cotangents, input, sumToShape(g, input, node, node.op.inputNameAt(i)));
      });
    });
  }
  return wrt.map((w) => cotangents.get(w) ?? zerosLike(w));
}

/** A zero tensor shaped like `v`, built by broadcasting a scalar (no large constant). */
export function zerosLike(v: Value): Value {
  return expand(scalar(v.graph, 0, v.dtype), v.shape);
}

function seedOne(output: Value): Value {
  if (output.size !== 1) {
    throw new GradError(`grad: output ${output} is not a scalar; pass options.seeds with a cotangent for it`);
  }
  return expand(scalar(output.graph, 1, output.dtype), output.shape);
}

function runRule(node: Node, gs: (Value | null)[], needed: readonly boolean[], policy: DevicePolicy): readonly (Value | null | undefined)[] {
  const op = node.op;
  if (!op.hasVjp) throw new GradError(`${op.type} '${node.name}' has no VJP rule but a gradient flows through it`);
  const first = node.outputs[0]!;
  const g = gs[0] ?? zerosLike(first);
  return op.runVjp({ x: node.inputs, y: node.outputs, g, gs, attrs: node.attrs, needed, policy });
}

/** Per position of the node's inputs: whether a gradient must be computed for it. */
function neededInputs(node: Node, dependsOnWrt: Set<Value>): boolean[] {
  return node.inputs.map((input, i) => {
    const name = node.op.inputNameAt(i);
    const rule = node.op.gradRule(name);
    const flows = input !== undefined && dependsOnWrt.has(input) && isFloat(input.dtype);
    if (flows && typeof rule === 'object') {
      throw new GradError(`${node.op.type} '${node.name}': the gradient with respect to input '${name}' is not implemented (${rule.notImplemented})`);
    }
    return flows && rule === 'differentiable';
  });
}

/** Sums a cotangent of a broadcast shape back to `input`'s shape and checks it. */
function sumToShape(g: Value, input: Value, node: Node, inputName: string): Value {
  const where = `${node.op.type} '${node.name}' input '${inputName}'`;
  if (g.dtype !== input.dtype) throw new GradError(`${where}: cotangent dtype ${g.dtype} differs from input dtype ${input.dtype}`);
  if (sameShape(g.shape, input.shape)) return g;
  const axes = broadcastAxes(g.shape, input.shape);
  if (!axes) {
    throw new GradError(`${where}: cotangent shape ${formatShape(g.shape)} does not reduce to the input's shape ${formatShape(input.shape)}`);
  }
  return reshape(reduceSum(g, axes, true), input.shape);
}

function accumulate(cotangents: Map<Value, Value>, v: Value, g: Value): void {
  const existing = cotangents.get(v);
  cotangents.set(v, existing ? add(existing, g) : g);
}

