/**
 * Op definitions: one object per ONNX op type holding its inputs (each marked differentiable,
 * non-differentiable, or not implemented with a reason), its attribute schema, its shape rule and
 * its vector-Jacobian product. Each op lives in its own file under ops/ beside its builder function.
 */
import { type DType, formatShape } from './dtype.js';
import { GraphError, ShapeError } from './errors.js';
import type { Attrs, AttrValue, Graph, NodeOrigin, Value } from './ir.js';
import type { DevicePolicy } from './policy.js';

/** ONNX attribute kinds; JS numbers are ambiguous, so each op says which of its attributes are ints. */
export type AttrKind = 'int' | 'ints' | 'float' | 'floats' | 'string';

/** PyTorch's tri-state: a formula, trusted to need none, or refused with a reason if asked for. */
export type GradRule = 'differentiable' | 'nondifferentiable' | { readonly notImplemented: string };
export type InputRule =
  | GradRule
  | { readonly grad: GradRule; readonly optional: true }
  // The last input only: it takes every remaining position of the node, as an array (Concat).
  | { readonly grad: GradRule; readonly variadic: true };

export interface TypeInfo {
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/** Forward inputs by name; an optional input that was not given is undefined, a variadic one is an array. */
export type Inputs = Readonly<Record<string, Value | undefined | readonly Value[]>>;

/** Per-input data shaped like the input: an array for a variadic input, one item otherwise. */
type PerInput<In, K extends keyof In, T> = In[K] extends readonly Value[] ? readonly T[] : T;

export interface VjpArgs<A, In> {
  /** The forward node's inputs, by name. */
  readonly x: In;
  /** The forward node's outputs. */
  readonly y: readonly Value[];
  /** Cotangent of the first output (zeros if only another output carries one). */
  readonly g: Value;
  /** Cotangents of every output; null is a symbolic zero. */
  readonly gs: readonly (Value | null)[];
  readonly attrs: A;
  /** Which inputs the requested gradients depend on; rules build only those branches. */
  readonly needed: { readonly [K in keyof In]-?: PerInput<In, K, boolean> };
  /** The device the gradient graph is built for: rules with device-specific formulations ask it. */
  readonly policy: DevicePolicy;
}

/** A gradient per needed input; omitted or null means zero. Shapes may be broadcast: the engine sums them back. */
export type VjpResult<In> = { [K in keyof In]?: PerInput<In, K, Value | null> };

/** What the engine passes for one node: everything positional, as the node stores its inputs. */
export interface NodeVjpArgs {
  readonly x: readonly (Value | undefined)[];
  readonly y: readonly Value[];
  readonly g: Value;
  readonly gs: readonly (Value | null)[];
  readonly attrs: Attrs;
  readonly needed: readonly boolean[];
  readonly policy: DevicePolicy;
}

export interface OpConfig<A, In> {
  /** The ONNX op type written to the model. */
  readonly type: string;
  /** Registry name when it differs from the ONNX type (StopGradient is written as Identity). */
  readonly name?: string;
  readonly inputs: { readonly [K in keyof In]-?: InputRule };
  readonly outputs?: readonly string[];
  readonly attrs: { readonly [K in keyof A]-?: AttrKind };
  /** Shape and dtype rule; call `fail` with what is wrong. */
  infer(x: In, attrs: A, fail: (message: string) => never): TypeInfo | readonly TypeInfo[];
  vjp?(args: VjpArgs<A, In>): VjpResult<In>;
}

/** The untyped view of an op definition that the engine, serializer and registry use. */
export interface AnyOpDef {
  readonly type: string;
  readonly name: string;
  readonly inputNames: readonly string[];
  readonly outputs: readonly string[];
  readonly attrKinds: Readonly<Record<string, AttrKind>>;
  readonly hasVjp: boolean;
  gradRule(input: string): GradRule;
  isOptional(input: string): boolean;
  /** The declared input that a node's `index`-th input belongs to (a variadic last input takes all later ones). */
  inputNameAt(index: number): string;
  applyPositional(inputs: readonly (Value | undefined)[], attrs: Attrs, origin?: NodeOrigin): Value[];
  /** Runs the rule; returns a cotangent (or null/undefined for zero) per position of the node's inputs. */
  runVjp(args: NodeVjpArgs): readonly (Value | null | undefined)[];
}

export class OpDef<A, In extends Inputs> implements AnyOpDef {
  readonly type: string;
  readonly name: string;
  readonly inputNames: readonly string[];
  readonly outputs: readonly string[];
  readonly attrKinds: Readonly<Record<string, AttrKind>>;

  constructor(private readonly config: OpConfig<A, In>) {
    this.type = config.type;
    this.name = config.name ?? config.type;
    this.inputNames = Object.keys(config.inputs);
    this.outputs = config.outputs ?? ['Y'];
    this.attrKinds = config.attrs as Record<string, AttrKind>;
    const variadic = this.inputNames.findIndex((n) => this.isVariadic(n));
    if (variadic >= 0 && variadic !== this.inputNames.length - 1) throw new GraphError(`${this.type}: only the last input may be variadic`);
  }

  get hasVjp(): boolean {
    return this.config.vjp !== undefined;
  }

  gradRule(input: string): GradRule {
    const rule = this.rule(input);
    return typeof rule === 'object' && 'grad' in rule ? rule.grad : rule;
  }

  isOptional(input: string): boolean {
    const rule = this.rule(input);
    return typeof rule === 'object' && 'optional' in rule;
  }

  private isVariadic(input: string): boolean {
    const rule = this.rule(input);
    return typeof rule === 'object' && 'variadic' in rule;
  }

  inputNameAt(index: number): string {
    const last = this.inputNames.length - 1;
    return this.inputNames[Math.min(index, last)]!;
  }

  /** Adds a node to the graph of its first input and returns its outputs. */
  apply(inputs: In, attrs: A): Value[] {
    const positional = this.inputNames.flatMap((n): readonly (Value | undefined)[] => (this.isVariadic(n) ? (inputs[n] as readonly Value[]) : [inputs[n] as Value | undefined]));
    return this.applyPositional(positional, attrs as Attrs);
  }

  /** `apply` for single-output ops. */
  call(inputs: In, attrs: A): Value {
    return this.apply(inputs, attrs)[0]!;
  }

  applyPositional(inputs: readonly (Value | undefined)[], attrs: Attrs, origin?: NodeOrigin): Value[] {
    const graph = this.graphOf(inputs);
    const named = this.named(inputs);
    this.checkAttrs(attrs);
    const fail = (message: string): never => {
      const shapes = inputs.map((v, i) => `${this.inputNameAt(i)}${v ? formatShape(v.shape) + ':' + v.dtype : '=∅'}`);
      throw new ShapeError(`${this.type} (scope '${graph.scopedName('')}'): ${message}; inputs ${shapes.join(', ')}`);
    };
    const inferred = this.config.infer(named as In, attrs as A, fail);
    const types = Array.isArray(inferred) ? inferred : [inferred as TypeInfo];
    for (const t of types) {
      if (!t.shape.every((d: number) => Number.isInteger(d) && d >= 0)) fail(`computed an invalid output shape ${formatShape(t.shape)}`);
    }
    return [...graph.addNode(this, inputs, attrs, types, origin).outputs];
  }

  runVjp(args: NodeVjpArgs): (Value | null | undefined)[] {
    if (!this.config.vjp) throw new GraphError(`${this.type} has no VJP rule`);
    const named = { ...args, x: this.group(args.x), needed: this.group(args.needed) } as unknown as VjpArgs<A, In>;
    const result = this.config.vjp(named) as Record<string, Value | null | readonly (Value | null)[] | undefined>;
    const first = this.inputNames.length - 1; // position of a variadic input's first element
    return args.x.map((_, i) => {
      const name = this.inputNameAt(i);
      const r = result[name];
      return this.isVariadic(name) ? (r as readonly (Value | null)[] | undefined)?.[i - first] : (r as Value | null | undefined);
    });
  }

  /** Positional items keyed by input name, a variadic input's items gathered into an array. */
  private group<T>(positional: readonly T[]): Record<string, T | T[]> {
    const out: Record<string, T | T[]> = {};
    this.inputNames.forEach((name, i) => (out[name] = this.isVariadic(name) ? positional.slice(i) : positional[i]!));
    return out;
  }

  private rule(input: string): InputRule {
    const rule = (this.config.inputs as Record<string, InputRule | undefined>)[input];
    if (rule === undefined) throw new GraphError(`${this.type} has no input named '${input}' (inputs: ${this.inputNames.join(', ')})`);
    return rule;
  }

  private named(inputs: readonly (Value | undefined)[]): Record<string, Value | undefined | (Value | undefined)[]> {
    if (!this.isVariadic(this.inputNames.at(-1)!) && inputs.length > this.inputNames.length) {
      throw new GraphError(`${this.type} takes at most ${this.inputNames.length} inputs (${this.inputNames.join(', ')}), got ${inputs.length}`);
    }
    for (let i = 0; i < Math.max(inputs.length, this.inputNames.length); i++) {
      const name = this.inputNameAt(i);
      if (inputs[i] === undefined && !this.isOptional(name)) throw new GraphError(`${this.type}: required input '${name}' is missing`);
    }
    return this.group(inputs);
  }

  private graphOf(inputs: readonly (Value | undefined)[]): Graph {
    const first = inputs.find((v): v is Value => v !== undefined);
    if (!first) throw new GraphError(`${this.type}: a node needs at least one input to know its graph`);
    for (const v of inputs) if (v) first.graph.owns(v, `${this.type} input`);
    return first.graph;
  }

  private checkAttrs(attrs: Attrs): void {
    for (const [name, kind] of Object.entries(this.attrKinds)) {
      const v: AttrValue | undefined = attrs[name];
      if (v === undefined) throw new GraphError(`${this.type}: attribute '${name}' (${kind}) is missing`);
      const ok =
        kind === 'int' ? typeof v === 'number' && Number.isInteger(v)
        : kind === 'float' ? typeof v === 'number'
        : kind === 'string' ? typeof v === 'string'
        : kind === 'ints' ? Array.isArray(v) && v.every((e) => Number.isInteger(e))
        : Array.isArray(v) && v.every((e) => typeof e === 'number');
      if (!ok) throw new GraphError(`${this.type}: attribute '${name}' must be ${kind}, got ${JSON.stringify(v)}`);
    }
    for (const name of Object.keys(attrs)) {
      if (!(name in this.attrKinds)) throw new GraphError(`${this.type}: unknown attribute '${name}' (known: ${Object.keys(this.attrKinds).join(', ') || 'none'})`);
    }
  }
}

export function defineOp<A, In extends Inputs>(config: OpConfig<A, In>): OpDef<A, In> {
  return new OpDef(config);
}
