/**
 * The graph IR: values with static shapes, nodes that apply an op definition, and the graph that
 * owns both. Nodes are appended in creation order, which is always a topological order (a node's
 * inputs exist before it), so passes walk `graph.nodes` forwards or backwards and never recurse.
 */
import { type DType, type TensorData, formatShape, shapeSize } from './dtype.js';
import { GraphError } from './errors.js';
import type { AnyOpDef } from './op.js';

/** What a graph input is for; the manifest and the trainer route feeds by role ('target': the target network's copy of an online tensor). */
export type InputRole = 'data' | 'param' | 'buffer' | 'state' | 'hyper' | 'queue' | 'target';

/** Optimizer parameter group: weights get weight decay (and LARS adaptation); BN and bias do not. */
export type ParamGroup = 'decay' | 'no_decay';

export class Value {
  /** A name unique in its graph; graph inputs and named outputs keep the name they were given. */
  name: string;
  constructor(
    readonly graph: Graph,
    readonly id: number,
    name: string,
    readonly dtype: DType,
    readonly shape: readonly number[],
    /** The node that computes this value; null for graph inputs and constants. */
    readonly producer: Node | null,
    readonly outputIndex: number,
    /** Contents, for constants known at build time (shape rules read Reshape targets, axes, pads). */
    readonly constData?: TensorData,
  ) {
    this.name = name;
  }
  get rank(): number {
    return this.shape.length;
  }
  get size(): number {
    return shapeSize(this.shape);
  }
  toString(): string {
    return `${this.name}<${this.dtype},${formatShape(this.shape)}>`;
  }
}

/** Attribute values as stored on nodes; their ONNX kinds come from the op's attribute schema. */
export type AttrValue = number | string | readonly number[] | readonly string[];
export type Attrs = Readonly<Record<string, AttrValue>>;

export class Node {
  constructor(
    readonly op: AnyOpDef,
    readonly name: string,
    readonly inputs: readonly (Value | undefined)[],
    readonly outputs: readonly Value[],
    readonly attrs: Attrs,
    /** For nodes emitted by a VJP rule: the forward node whose gradient they compute. */
    readonly forwardOf: Node | null,
  ) {}
}

/**
 * How a parameter or buffer is initialised when a bundle is created (torchvision's schemes:
 * kaiming-normal convolutions, uniform ±1/√fan_in linear layers, constant BN affine and statistics).
 */
export type Init =
  | { readonly kind: 'constant'; readonly value: number }
  | { readonly kind: 'normal'; readonly std: number }
  | { readonly kind: 'uniform'; readonly bound: number }
  /** Rows along the last axis drawn N(0, 1) and L2-normalised, as MoCo starts its key queues. */
  | { readonly kind: 'unit_rows' };

/** A node's name and backward-pass tag when they are given rather than generated (the ONNX reader). */
export interface NodeOrigin {
  readonly name: string;
  readonly forwardOf: Node | null;
}

/** What a data input means, in terms a caller outside this code can act on (the bundle manifest lists it). */
export type InputMeaning = Readonly<Record<string, string | number>>;

export interface GraphInput {
  readonly value: Value;
  readonly role: InputRole;
  readonly group?: ParamGroup;
  readonly init?: Init;
  readonly meaning?: InputMeaning;
}

/**
 * A state update: the value a buffer (e.g. `bn1.running_mean`) takes after this graph runs. Step
 * graphs output `next` as `next.<buffer name>` (see `Graph.outputBufferUpdates`); the trainer
 * feeds it back as the buffer on the following step.
 */
export interface BufferUpdate {
  readonly buffer: Value;
  readonly next: Value;
}

/** Output-name prefix of updated buffers in step graphs: `next.layer1.0.bn1.running_mean`. */
export const NEXT_PREFIX = 'next.';

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: GraphInput[] = [];
  readonly constants: Value[] = [];
  readonly outputs: { name: string; value: Value }[] = [];
  /** Buffer updates in the order they were recorded (one per buffer at most). */
  readonly bufferUpdates: BufferUpdate[] = [];
  private readonly names = new Set<string>();
  private readonly nodeNames = new Map<string, Node>();
  private readonly scopes: string[] = [];
  private readonly constantCache = new Map<string, Value>();
  private readonly opCounters = new Map<string, number>();
  private nextId = 0;
  /** Inside `reusingParams`: parameter and buffer declarations return the inputs already declared. */
  private reuse = false;
  /** Set while a VJP rule runs, so its nodes are tagged and scoped under `<forward scope>/grad`. */
  private gradientOf: Node | null = null;

  constructor(readonly name = 'multisiam') {}

  /** Runs `fn` with `name` appended to the current scope ('layer1' then '0' gives 'layer1.0'). */
  scope<T>(name: string | number, fn: () => T): T {
    this.scopes.push(String(name));
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** The current scope joined with `local`, torchvision style: `layer1.0.conv1.weight`. */
  scopedName(local: string): string {
    return [...this.scopes, local].filter((s) => s !== '').join('.');
  }

  input(name: string, dtype: DType, shape: readonly number[], role: InputRole = 'data', meaning?: InputMeaning): Value {
    return this.addInput(name, dtype, shape, role, undefined, undefined, meaning);
  }

  /**
   * Runs `fn` applying modules already built once: each `param`/`buffer` it declares returns the
   * existing input of that name (whose shape must match) instead of declaring a new one. This is how
   * the second view goes through the same network as the first.
   */
  reusingParams<T>(fn: () => T): T {
    const saved = this.reuse;
    this.reuse = true;
    try {
      return fn();
    } finally {
      this.reuse = saved;
    }
  }

  /** A trainable parameter: a graph input named after the current scope. */
  param(local: string, shape: readonly number[], init: Init, group: ParamGroup = 'decay'): Value {
    return this.addInput(this.scopedName(local), 'float32', shape, 'param', group, init);
  }

  /** A non-trainable state tensor such as `bn1.running_mean`. */
  buffer(local: string, shape: readonly number[], init: Init): Value {
    return this.addInput(this.scopedName(local), 'float32', shape, 'buffer', undefined, init);
  }

  /** A key queue (MoCo): state carried from step to step like a buffer, updated with `updateBuffer`. */
  queue(name: string, shape: readonly number[]): Value {
    return this.addInput(name, 'float32', shape, 'queue', undefined, { kind: 'unit_rows' });
  }

  /**
   * Records that `buffer` (a graph input with role 'buffer' or 'queue') becomes `next` once this graph has run,
   * as BN running statistics do in training mode. Nothing is output until the graph's assembler
   * calls `outputBufferUpdates`; a graph that never does (an inference graph) just drops the update.
   * Updating a buffer again supersedes the earlier update (its place in the order is kept): compute
   * the new value from `bufferValue(buffer)` to chain them, as torch does when a BN module runs on
   * two views in one step.
   */
  updateBuffer(buffer: Value, next: Value): void {
    this.owns(buffer, 'updateBuffer');
    this.owns(next, 'updateBuffer');
    const input = this.inputs.find((i) => i.value === buffer);
    if (!input || (input.role !== 'buffer' && input.role !== 'queue')) throw new GraphError(`updateBuffer: '${buffer.name}' is not a buffer input of graph '${this.name}' (only buffers and queues are updated)`);
    if (next.dtype !== buffer.dtype || next.shape.length !== buffer.shape.length || next.shape.some((d, i) => d !== buffer.shape[i])) {
      throw new GraphError(`updateBuffer: '${buffer.name}' is ${buffer}, its update ${next} differs in shape or dtype`);
    }
    const at = this.bufferUpdates.findIndex((u) => u.buffer === buffer);
    if (at >= 0) this.bufferUpdates[at] = { buffer, next };
    else this.bufferUpdates.push({ buffer, next });
  }

  /** The current value of a buffer: its latest recorded update, or the buffer input itself. */
  bufferValue(buffer: Value): Value {
    return this.bufferUpdates.find((u) => u.buffer === buffer)?.next ?? buffer;
  }

  /** Marks every recorded buffer update as an output `next.<buffer name>`, in recording order. */
  outputBufferUpdates(): void {
    for (const u of this.bufferUpdates) this.output(NEXT_PREFIX + u.buffer.name, u.next);
  }

  /** Declares an input with an explicit role and group, as read back from a model. */
  addInputForReader(name: string, dtype: DType, shape: readonly number[], role: InputRole, group?: ParamGroup): Value {
    return this.addInput(name, dtype, shape, role, group);
  }

  private addInput(name: string, dtype: DType, shape: readonly number[], role: InputRole, group?: ParamGroup, init?: Init, meaning?: InputMeaning): Value {
    checkShape(shape, `input '${name}'`);
    const existing = this.reuse && (role === 'param' || role === 'buffer') ? this.inputNamed(name) : undefined;
    if (existing) {
      if (existing.role !== role || !sameDims(existing.value.shape, shape)) {
        throw new GraphError(`reusing '${name}': declared as ${existing.role} ${formatShape(existing.value.shape)}, now as ${role} ${formatShape(shape)}`);
      }
      return existing.value;
    }
    const value = new Value(this, this.nextId++, this.claim(name), dtype, shape, null, 0);
    this.inputs.push({ value, role, ...(group ? { group } : {}), ...(init ? { init } : {}), ...(meaning ? { meaning } : {}) });
    return value;
  }

  /** A constant tensor; small ones are shared by content so repeated literals become one initializer. */
  constant(data: TensorData, shape: readonly number[], dtype: DType): Value {
    checkShape(shape, 'constant');
    if (data.length !== shapeSize(shape)) {
      throw new GraphError(`constant of shape ${formatShape(shape)} needs ${shapeSize(shape)} elements, got ${data.length}`);
    }
    const key = data.length <= 64 ? `${dtype}|${shape.join(',')}|${Array.from(data as ArrayLike<number | bigint>).join(',')}` : null;
    const cached = key === null ? undefined : this.constantCache.get(key);
    if (cached) return cached;
    // Skip generated names already taken: the ONNX reader renames constants to the names it read,
    // which may be a later `const_N` of this counter.
    let name = this.autoName('const');
    while (this.names.has(name)) name = this.autoName('const');
    const value = new Value(this, this.nextId++, this.claim(name), dtype, shape, null, 0, data);
    this.constants.push(value);
    if (key !== null) this.constantCache.set(key, value);
    return value;
  }

  /**
   * Marks `value` as a graph output called `name`. An intermediate value takes the name; a graph
   * input, a constant or a value already output under another name is copied by an Identity when
   * the model is written.
   */
  output(name: string, value: Value): void {
    this.owns(value, `output '${name}'`);
    if (this.outputs.some((o) => o.name === name)) throw new GraphError(`graph '${this.name}' already has an output named '${name}'`);
    const renamable = value.producer !== null && !this.outputs.some((o) => o.value === value) && (value.name === name || !this.names.has(name));
    if (renamable) {
      this.rename(value, name);
    } else {
      this.claim(name);
    }
    this.outputs.push({ name, value });
  }

  /** Appends a node; the op definition has already checked inputs and computed output types. */
  addNode(op: AnyOpDef, inputs: readonly (Value | undefined)[], attrs: Attrs, outputTypes: readonly { dtype: DType; shape: readonly number[] }[], origin?: NodeOrigin): Node {
    const name = origin?.name ?? this.autoName(op.type);
    if (this.nodeNames.has(name)) throw new GraphError(`graph '${this.name}' already has a node named '${name}'`);
    
    const outputs: Value[] = [];
    const node = new Node(op, name, inputs, outputs, attrs, origin ? origin.forwardOf : this.gradientOf);
    outputTypes.forEach((t, i) => {
      const outName = outputTypes.length === 1 ? name : `${name}:${op.outputs[i] ?? i}`;
      outputs.push(new Value(this, this.nextId++, this.claim(outName), t.dtype, t.shape, node, i));
    });
    this.nodes.push(node);
    this.nodeNames.set(name, node);
    return node;
  }

  /** Runs `fn` with new nodes attributed to the backward pass of `forward`. */
  inGradientOf<T>(forward: Node, fn: () => T): T {
    const saved = this.gradientOf;
    this.gradientOf = forward;
    try {
      return fn();
    } finally {
      this.gradientOf = saved;
    }
  }

  /** Gives a value a new unique name (the ONNX reader restores the names it read). */
  rename(value: Value, name: string): void {
    this.owns(value, `rename to '${name}'`);
    if (value.name === name) return;
    this.claim(name);
    this.names.delete(value.name);
    value.name = name;
  }

  owns(value: Value, what: string): void {
    if (value.graph !== this) throw new GraphError(`${what}: value '${value.name}' belongs to graph '${value.graph.name}', not '${this.name}'`);
  }

  nodeNamed(name: string): Node | undefined {
    return this.nodeNames.get(name);
  }

  inputNamed(name: string): GraphInput | undefined {
    return this.inputs.find((i) => i.value.name === name);
  }

  /** Values that are graph inputs, in declaration order, filtered by role. */
  inputsWithRole(role: InputRole): Value[] {
    return this.inputs.filter((i) => i.role === role).map((i) => i.value);
  }

  private autoName(kind: string): string {
    const n = this.opCounters.get(kind) ?? 0;
    this.opCounters.set(kind, n + 1);
    const scope = this.gradientOf ? `${scopeOf(this.gradientOf.name)}/grad` : this.scopes.join('.');
    return scope ? `${scope}/${kind}_${n}` : `${kind}_${n}`;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new GraphError(`graph '${this.name}' already has a value named '${name}'`);
    this.names.add(name);
    return name;
  }
}

function scopeOf(nodeName: string): string {
  const slash = nodeName.lastIndexOf('/');
  return slash < 0 ? nodeName : nodeName.slice(0, slash);
}

function checkShape(shape: readonly number[], what: string): void {
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new GraphError(`${what}: shapes are static; every dimension must be a non-negative integer, got ${formatShape(shape)}`);
  }
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
