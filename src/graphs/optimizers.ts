/**
 * The optimizer update, in the graph: one `run()` of a train-step graph is one training step, with
 * parameters and optimizer state in and the updated parameters, state and loss out.
 *
 * Both optimizers keep a momentum buffer per parameter (graph input `momentum.<param>`, role 'state',
 * zeros at the start) and differ in the direction d fed to it. With g the gradient and p the
 * parameter, for the 'decay' group (weights) d = g + wd·p; for the 'no_decay' group (BN affine
 * parameters and biases) d = g. Then:
 *
 * - SGD (torch.optim.SGD, dampening 0, no Nesterov; its first-step `buf = d` equals μ·0 + d):
 *     buf ← μ·buf + d;  p ← p − lr·buf
 * - LARS (PixPro / BYOL; SPEC §2.8): for the decay group only, the trust ratio
 *     q = η‖p‖/‖d‖ if ‖p‖ > 0 and ‖d‖ > 0, else 1;  d ← q·d
 *   (norms over the whole tensor, η = trust coefficient 0.001), no_decay parameters get neither
 *   decay nor adaptation; then buf ← μ·buf + d;  p ← p − lr·buf.
 *   This is BYOL's LARS (as SPEC §2.8 states it). PixPro's LARS divides by ‖d‖ + 1e-8 instead
 *   (https://github.com/zdaxie/PixPro/blob/6689c383d559f507b429fc73fb08388139916f2e/contrast/lars.py);
 *   `larsEps: 1e-8` reproduces that.
 *
 * `lr` and `weight_decay` are float32 scalar graph inputs (role 'hyper'), fed each step so that
 * schedules need no new graph. Outputs: `next.<param>` and `next.momentum.<param>`.
 *
 * `assembleTrainStep` builds the whole step from a loss: gradients by the autodiff engine, the
 * update, the recorded buffer updates (`next.<buffer>`, BN running statistics) and `grad_norm`, the
 * global L2 norm of the raw gradients. A non-finite loss or grad_norm means the step must be
 * skipped; since the graph is functional (new tensors out, inputs untouched), skipping is simply not
 * adopting its outputs.
 */
import { type GradOptions, grad } from '../onnx/autodiff.js';
import { ancestors } from '../onnx/reach.js';
import { scalar } from '../onnx/constant.js';
import { GraphError } from '../onnx/errors.js';
import type { Graph, ParamGroup, Value } from '../onnx/ir.js';
import { add, div, greater, mul, reduceSumSquare, sqrt, sub, where } from '../onnx/ops/index.js';
import { NAMES } from './io.js';

export type OptimizerKind = 'sgd' | 'lars';

export interface OptimizerOptions {
  readonly kind: OptimizerKind;
  /** μ, the momentum factor (0.9 by default, as BYOL and PixPro use). */
  readonly momentum?: number;
  /** η, LARS's trust coefficient (0.001 by default). */
  readonly trustCoefficient?: number;
  /** Added to ‖d‖ in LARS's trust ratio: 0 by default (BYOL), 1e-8 in PixPro. */
  readonly larsEps?: number;
}

export interface ParamGrad {
  readonly param: Value;
  readonly grad: Value;
  readonly group: ParamGroup;
}

export interface OptimizerStep {
  readonly lr: Value;
  readonly weightDecay: Value;
  /** Names of the state inputs added (`momentum.<param>`), in parameter order. */
  readonly state: readonly string[];
  /** Names of the outputs added (`next.<param>` then `next.momentum.<param>`, per parameter). */
  readonly outputs: readonly string[];
}

/** A float32 scalar hyper-parameter input, declared once per graph and reused afterwards. */
export function hyperInput(graph: Graph, name: string): Value {
  const existing = graph.inputNamed(name);
  if (!existing) return graph.input(name, 'float32', [], 'hyper');
  const v = existing.value;
  if (existing.role !== 'hyper' || v.dtype !== 'float32' || v.rank !== 0) {
    throw new GraphError(`graph '${graph.name}' already has an input '${name}' (${v}, role ${existing.role}); the optimizer needs it as a float32 scalar with role 'hyper'`);
  }
  return v;
}

/** Appends the update of every parameter in `params` (see the file comment) and marks its outputs. */
export function appendOptimizerStep(graph: Graph, params: readonly ParamGrad[], options: OptimizerOptions): OptimizerStep {
  const mu = options.momentum ?? 0.9;
  const eta = options.trustCoefficient ?? 0.001;
  if (options.kind !== 'sgd' && options.kind !== 'lars') throw new GraphError(`unknown optimizer '${String(options.kind)}'; choose sgd or lars`);
  if (!(mu >= 0 && mu < 1)) throw new GraphError(`optimizer momentum must be in [0, 1), got ${mu}`);
  const larsEps = options.larsEps ?? 0;
  if (!(eta > 0)) throw new GraphError(`LARS trust coefficient must be positive, got ${eta}`);
  if (!(larsEps >= 0)) throw new GraphError(`LARS eps must be non-negative, got ${larsEps}`);
  const lr = hyperInput(graph, NAMES.lr);
  const weightDecay = hyperInput(graph, NAMES.weightDecay);
  const state: string[] = [];
  const outputs: string[] = [];
  for (const { param, grad: g, group } of params) {
    graph.owns(param, 'optimizer parameter');
    graph.owns(g, `gradient of '${param.name}'`);
    const input = graph.inputNamed(param.name);
    if (!input || input.value !== param || input.role !== 'param') throw new GraphError(`optimizer: '${param.name}' is not a parameter input of graph '${graph.name}'`);
    if (param.dtype !== 'float32' || g.dtype !== 'float32' || g.shape.join() !== param.shape.join()) {
      throw new GraphError(`optimizer: gradient ${g} does not match parameter ${param}`);
    }
    const name = param.name;
    const buf = graph.input(NAMES.momentum(name), 'float32', param.shape, 'state');
    let d = group === 'decay' ? add(g, mul(weightDecay, param)) : g;
    if (options.kind === 'lars' && group === 'decay') d = mul(d, trustRatio(param, d, eta, larsEps));
    const nextBuf = mu === 0 ? d : add(mul(buf, mu), d);
    const nextParam = sub(param, mul(lr, nextBuf));
    graph.output(NAMES.next(name), nextParam);
    graph.output(NAMES.next(buf.name), nextBuf);
    state.push(buf.name);
    outputs.push(NAMES.next(name), NAMES.next(buf.name));
  }
  return { lr, weightDecay, state, outputs };
}

/** q = η‖p‖/(‖d‖ + eps) when both norms are positive, else 1 (a float32 scalar). */
function trustRatio(p: Value, d: Value, eta: number, eps: number): Value {
  const p2 = reduceSumSquare(p);
  const d2 = reduceSumSquare(d);
  const one = scalar(p.graph, 1);
  // The Where picks 1 wherever a norm is 0, so the 0/0 of the unselected branch never reaches q.
  const ratio = mul(div(sqrt(p2), eps > 0 ? add(sqrt(d2), eps) : sqrt(d2)), eta);
  return where(greater(p2, 0), where(greater(d2, 0), ratio, one), one);
}

/** √(Σ over all gradients of Σ g²), a float32 scalar. */
export function globalNorm(grads: readonly Value[]): Value {
  if (grads.length === 0) throw new GraphError('globalNorm: no gradients');
  let total = reduceSumSquare(grads[0]!);
  for (const g of grads.slice(1)) total = add(total, reduceSumSquare(g));
  return sqrt(total);
}

export interface TrainStepOptions extends OptimizerOptions {
  /** How gradients are formulated (see src/onnx/policy.ts); the CPU policy by default. */
  readonly grad?: GradOptions;
  /**
   * Parameters the loss does not depend on are an error by default (usually a wiring bug). With
   * true they pass through unchanged, as torch.optim skips parameters whose .grad is None.
   */
  readonly allowUnused?: boolean;
}

export interface TrainStep {
  /** Parameter names in graph order, with their groups. */
  readonly params: readonly { readonly name: string; readonly group: ParamGroup }[];
  /** Optimizer state input names. */
  readonly state: readonly string[];
  /** Buffers updated by the step (each output as `next.<buffer>`). */
  readonly buffers: readonly string[];
  /** Every output name, in graph order. */
  readonly outputs: readonly string[];
}

/**
 * Turns a forward graph with a scalar `loss` into a train-step graph: outputs `loss`, then
 * `next.<buffer>` for the buffer updates the graph recorded, the optimizer outputs (`next.<param>`,
 * `next.momentum.<param>`) and `grad_norm`. Outputs the graph already had stay in front.
 */
export function assembleTrainStep(graph: Graph, loss: Value, options: TrainStepOptions): TrainStep {
  graph.owns(loss, 'assembleTrainStep loss');
  if (loss.size !== 1 || loss.dtype !== 'float32') throw new GraphError(`assembleTrainStep: the loss must be a float32 scalar, got ${loss}`);
  const inputs = graph.inputs.filter((i) => i.role === 'param');
  if (inputs.length === 0) throw new GraphError(`assembleTrainStep: graph '${graph.name}' has no parameters (inputs with role 'param')`);
  const reaching = ancestors(graph, [loss]).values;
  const unused = inputs.filter((i) => !reaching.has(i.value)).map((i) => i.value.name);
  if (unused.length > 0 && !options.allowUnused) {
    throw new GraphError(`assembleTrainStep: the loss does not depend on parameter${unused.length > 1 ? 's' : ''} ${unused.map((u) => `'${u}'`).join(', ')}; fix the wiring or pass allowUnused`);
  }
  const used = inputs.filter((i) => reaching.has(i.value));
  graph.output(NAMES.loss, loss);
  graph.outputBufferUpdates();
  const grads = grad(loss, used.map((i) => i.value), options.grad);
  if (used.length === 0) throw new GraphError(`assembleTrainStep: the loss depends on none of the parameters of graph '${graph.name}'`);
  appendOptimizerStep(graph, used.map((i, k) => ({ param: i.value, grad: grads[k]!, group: i.group ?? 'decay' })), options);
  // Unused parameters (allowUnused) keep their value and their state, as in torch.
  for (const i of inputs.filter((i) => !reaching.has(i.value))) {
    const buf = graph.input(NAMES.momentum(i.value.name), 'float32', i.value.shape, 'state');
    graph.output(NAMES.next(i.value.name), i.value);
    graph.output(NAMES.next(buf.name), buf);
  }
  graph.output(NAMES.gradNorm, globalNorm(grads));
  return {
    params: inputs.map((i) => ({ name: i.value.name, group: i.group ?? 'decay' })),
    state: graph.inputsWithRole('state').map((v) => v.name),
    buffers: graph.bufferUpdates.map((u) => u.buffer.name),
    outputs: graph.outputs.map((o) => o.name),
  };
}

/**
 * Loss and gradients only (the bundle's grad.onnx, for checks and custom optimisers): outputs
 * `loss`, then `next.<buffer>` if asked, then `grad.<param>` for every parameter input (or `params`).
 */
export function assembleGradGraph(graph: Graph, loss: Value, options: { readonly bufferUpdates?: boolean; readonly params?: readonly Value[]; readonly grad?: GradOptions } = {}): string[] {
  graph.owns(loss, 'assembleGradGraph loss');
  if (loss.size !== 1) throw new GraphError(`assembleGradGraph: the loss must be a scalar, got ${loss}`);
  const params = options.params ?? graph.inputsWithRole('param');
  const grads = grad(loss, params, options.grad);
  graph.output(NAMES.loss, loss);
  if (options.bufferUpdates) graph.outputBufferUpdates();
  params.forEach((p, i) => graph.output(NAMES.grad(p.name), grads[i]!));
  return graph.outputs.map((o) => o.name);
}
