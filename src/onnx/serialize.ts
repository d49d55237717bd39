/**
 * Graph ⇄ ONNX ModelProto. Models are written at opset 18 / IR version 8 with every intermediate
 * shape in value_info (so ONNX Runtime cross-checks our shape rules when it loads a model), input
 * roles in their doc strings, and backward nodes tagged with the forward node they differentiate.
 * Tensors above a size threshold can go to an external data file beside the model. For models that
 * leave this code (an exported inference network), named inputs can be baked in as initializers and
 * input/output dimensions made symbolic.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BYTES_PER_ELEMENT, type DType, ONNX_DTYPE, type TensorData, allocate, dtypeFromOnnx, formatShape, shapeSize } from './dtype.js';
import { OnnxFormatError } from './errors.js';
import { type Attrs, type AttrValue, Graph, type InputRole, type Node, type ParamGroup, type Value } from './ir.js';
import { ATTR_TYPE, type AttributeMsg, type GraphMsg, type ModelMsg, type NodeMsg, type TensorMsg, type ValueInfoMsg, decodeModel, encodeModel } from './proto.js';
import { ancestors } from './reach.js';
import { opForType } from './registry.js';

export const OPSET = 18;
export const IR_VERSION = 8;
const PRODUCER = 'multisiam';
const EXTERNAL_ALIGN = 64;

export interface WriteOptions {
  /** File name (relative to the model) for tensors of at least `externalThreshold` bytes. */
  readonly externalDataFile?: string;
  readonly externalThreshold?: number;
  readonly docString?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * Graph inputs written as initializers holding this data instead of as model inputs (weights
   * baked into a self-contained model). Each name must be a graph input and its data must have the
   * input's dtype and size.
   */
  readonly initializers?: ReadonlyMap<string, TensorData>;
  /**
   * Symbolic dimensions of model inputs and outputs, by name: axis → dimension name, e.g.
   * `{ image: { 0: 'batch' } }`. When any are given, intermediate value_info is left out: its
   * shapes were traced at one size and would contradict the model at another.
   */
  readonly dynamicAxes?: Readonly<Record<string, Readonly<Record<number, string>>>>;
}

/** A model input or output as written: what a caller must feed or may fetch. */
export interface ValueDescription {
  readonly name: string;
  readonly dtype: DType;
  /** As traced; axes named in `dynamicAxes` are symbolic in the model. */
  readonly shape: readonly number[];
  /** Inputs only: the role declared in the graph, and the optimizer group of parameters. */
  readonly role?: InputRole;
  readonly group?: ParamGroup;
}

export interface WrittenModel {
  readonly model: Uint8Array;
  readonly inputs: readonly ValueDescription[];
  readonly outputs: readonly ValueDescription[];
  /** Nodes written (the graph's live nodes, plus an Identity per output that needs one). */
  readonly nodeCount: number;
  /** Bytes of the external data file, when any tensor went there. */
  readonly externalData?: Uint8Array;
}

/** Serialises the part of `graph` its outputs depend on. */
export function writeModel(graph: Graph, options: WriteOptions = {}): WrittenModel {
  if (graph.outputs.length === 0) throw new OnnxFormatError(`graph '${graph.name}' has no outputs; mark some with graph.output(name, value)`);
  const live = ancestors(graph, graph.outputs.map((o) => o.value)).nodes;
  const used = new Set<Value>();
  for (const node of live) for (const v of node.inputs) if (v) used.add(v);
  for (const o of graph.outputs) used.add(o.value);

  const baked = checkInitializers(graph, options.initializers);
  const modelInputs = graph.inputs.filter((i) => used.has(i.value) && !baked.has(i.value.name));
  const dynamic = checkDynamicAxes(graph, modelInputs.map((i) => i.value), options.dynamicAxes);
  const dims = (name: string, shape: readonly number[]): Dim[] => shape.map((d, axis) => dynamic.get(name)?.[axis] ?? d);

  const external = new ExternalWriter(options.externalDataFile, options.externalThreshold ?? 1024);
  const nodes: NodeMsg[] = live.map(nodeMsg);
  const outputs: ValueInfoMsg[] = [];
  for (const { name, value } of graph.outputs) {
    if (value.name !== name) nodes.push({ input: [value.name], output: [name], name: `${name}/Identity`, opType: 'Identity', attribute: [] });
    outputs.push(valueInfo(name, value.dtype, dims(name, value.shape)));
  }
  const outputNames = new Set(graph.outputs.map((o) => o.name));
  const graphMsg: GraphMsg = {
    name: graph.name,
    node: nodes,
    initializer: [
      ...graph.constants.filter((c) => used.has(c)).map((c) => external.tensor(c.name, c.dtype, c.shape, c.constData!)),
      ...graph.inputs.filter((i) => used.has(i.value) && baked.has(i.value.name)).map(({ value: v }) => external.tensor(v.name, v.dtype, v.shape, baked.get(v.name)!)),
    ],
    // Inputs nothing reads are left out, so a model's inputs are exactly what must be fed.
    input: modelInputs.map((i) => valueInfo(i.value.name, i.value.dtype, dims(i.value.name, i.value.shape), roleDoc(i.role, i.group))),
    output: outputs,
    valueInfo: dynamic.size > 0 ? [] : live.flatMap((n) => n.outputs).filter((v) => !outputNames.has(v.name)).map((v) => valueInfo(v.name, v.dtype, v.shape)),
  };
  const model: ModelMsg = {
    irVersion: IR_VERSION,
    producerName: PRODUCER,
    producerVersion: '0.1.0',
    graph: graphMsg,
    opsetImport: [{ domain: '', version: OPSET }],
    ...(options.docString ? { docString: options.docString } : {}),
    ...(options.metadata ? { metadataProps: Object.entries(options.metadata).map(([key, value]) => ({ key, value })) } : {}),
  };
  const bytes = encodeModel(model);
  const data = external.bytes();
  const inputs = modelInputs.map((i): ValueDescription => ({ name: i.value.name, dtype: i.value.dtype, shape: i.value.shape, role: i.role, ...(i.group ? { group: i.group } : {}) }));
  const described = graph.outputs.map(({ name, value }): ValueDescription => ({ name, dtype: value.dtype, shape: value.shape }));
  return { model: bytes, inputs, outputs: described, nodeCount: nodes.length, ...(data ? { externalData: data } : {}) };
}

/** Writes `path` and, for large tensors, `<name>.data` beside it; returns the files written. */
export function saveModel(graph: Graph, path: string, options: Omit<WriteOptions, 'externalDataFile'> = {}): string[] {
  const dataName = `${basename(path)}.data`;
  const written = writeModel(graph, { ...options, externalDataFile: dataName });
  writeFileSync(path, written.model);
  if (!written.externalData) return [path];
  writeFileSync(join(dirname(path), dataName), written.externalData);
  return [path, join(dirname(path), dataName)];
}

/** Reads a model file (resolving external data beside it) into a graph. */
export function loadModel(path: string): Graph {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new OnnxFormatError(`cannot read ONNX model '${path}': ${(e as Error).message}`);
  }
  return readModel(bytes, (location) => readFileSync(join(dirname(path), location)), path);
}

/** Parses ModelProto bytes into a graph; `readExternal` supplies external data files by location. */
export function readModel(bytes: Uint8Array, readExternal?: (location: string) => Uint8Array, source = 'model'): Graph {
  let model: ModelMsg;
  try {
    model = decodeModel(bytes);
  } catch (e) {
    throw new OnnxFormatError(`${source}: not a valid ONNX ModelProto (${(e as Error).message})`);
  }
  const opset = model.opsetImport.find((o) => (o.domain ?? '') === '')?.version;
  if (opset !== OPSET) throw new OnnxFormatError(`${source}: default-domain opset is ${opset ?? 'missing'}; multisiam reads opset ${OPSET} models`);
  const g = model.graph;
  const graph = new Graph(g.name);
  const values = new Map<string, Value>();
  for (const vi of g.input) {
    const [dtype, shape] = typeOf(vi, source);
    const { role, group } = parseRoleDoc(vi.docString);
    values.set(vi.name, group ? graph.addInputForReader(vi.name, dtype, shape, role, group) : graph.addInputForReader(vi.name, dtype, shape, role));
  }
  for (const t of g.initializer) {
    const c = graph.constant(tensorData(t, readExternal, source), t.dims.map(Number), dtypeFromOnnx(t.dataType));
    graph.rename(c, t.name);
    values.set(t.name, c);
  }
  for (const n of g.node) {
    const op = opForType(n.opType, n.domain ?? '');
    const inputs = n.input.map((name) => {
      if (name === '') return undefined;
      const v = values.get(name);
      if (!v) throw new OnnxFormatError(`${source}: node '${n.name}' reads '${name}', which no earlier node or input defines`);
      return v;
    });
    const fwd = n.metadataProps?.find((p) => p.key === 'fwd')?.value;
    const outs = op.applyPositional(inputs, readAttrs(n, op.attrKinds), { name: n.name, forwardOf: fwd ? (graph.nodeNamed(fwd) ?? null) : null });
    outs.forEach((v, i) => {
      graph.rename(v, n.output[i]!);
      values.set(v.name, v);
    });
  }
  for (const o of g.output) {
    const v = values.get(o.name);
    if (!v) throw new OnnxFormatError(`${source}: output '${o.name}' is not computed by the graph`);
    graph.output(o.name, v);
  }
  return graph;
}

/** The `initializers` option checked against the graph: each names an input and fits it. */
function checkInitializers(graph: Graph, initializers: ReadonlyMap<string, TensorData> | undefined): ReadonlyMap<string, TensorData> {
  for (const [name, data] of initializers ?? []) {
    const input = graph.inputNamed(name);
    if (!input) throw new OnnxFormatError(`writeModel: initializer '${name}' is not an input of graph '${graph.name}'; only graph inputs can be baked in`);
    const v = input.value;
    const expected = allocate(v.dtype, 0).constructor;
    if (data.constructor !== expected || data.length !== shapeSize(v.shape)) {
      throw new OnnxFormatError(`writeModel: initializer '${name}' holds a ${data.constructor.name} of ${data.length} values; input '${name}' is ${v.dtype} ${formatShape(v.shape)} (${shapeSize(v.shape)} values)`);
    }
  }
  return initializers ?? new Map();
}

/** The `dynamicAxes` option checked against the model's inputs and outputs: name → axis → dimension name. */
function checkDynamicAxes(graph: Graph, inputs: readonly Value[], axes: WriteOptions['dynamicAxes']): Map<string, Readonly<Record<number, string>>> {
  const ranks = new Map<string, number>([...inputs.map((v): [string, number] => [v.name, v.rank]), ...graph.outputs.map((o): [string, number] => [o.name, o.value.rank])]);
  const out = new Map<string, Readonly<Record<number, string>>>();
  for (const [name, named] of Object.entries(axes ?? {})) {
    const rank = ranks.get(name);
    if (rank === undefined) throw new OnnxFormatError(`writeModel: dynamicAxes names '${name}', which is not an input or output of the model; those are ${[...ranks.keys()].map((n) => `'${n}'`).join(', ')}`);
    for (const [axis, dim] of Object.entries(named)) {
      const a = Number(axis);
      if (!(Number.isInteger(a) && a >= 0 && a < rank)) throw new OnnxFormatError(`writeModel: dynamicAxes['${name}'] names axis ${axis}, but '${name}' has rank ${rank}`);
      if (!dim) throw new OnnxFormatError(`writeModel: dynamicAxes['${name}'][${axis}] needs a non-empty dimension name`);
    }
    out.set(name, named);
  }
  return out;
}

function nodeMsg(node: Node): NodeMsg {
  // An omitted optional input is written as '' only when a later input follows it; trailing ones
  // are dropped, since some kernels read a present-but-empty name differently from an absent one.
  const input = node.inputs.map((v) => v?.name ?? '');
  while (input.at(-1) === '') input.pop();
  const msg: NodeMsg = {
    input,
    output: node.outputs.map((v) => v.name),
    name: node.name,
    opType: node.op.type,
    attribute: Object.entries(node.op.attrKinds).map(([name, kind]) => attributeMsg(name, kind, node.attrs[name]!)),
  };
  if (node.forwardOf) msg.metadataProps = [{ key: 'fwd', value: node.forwardOf.name }];
  return msg;
}

function attributeMsg(name: string, kind: string, v: AttrValue): AttributeMsg {
  switch (kind) {
    case 'int': return { name, type: ATTR_TYPE.INT, i: v as number };
    case 'float': return { name, type: ATTR_TYPE.FLOAT, f: v as number };
    case 'string': return { name, type: ATTR_TYPE.STRING, s: new TextEncoder().encode(v as string) };
    case 'ints': return { name, type: ATTR_TYPE.INTS, ints: [...(v as number[])] };
    default: return { name, type: ATTR_TYPE.FLOATS, floats: [...(v as number[])] };
  }
}

function readAttrs(n: NodeMsg, kinds: Readonly<Record<string, string>>): Attrs {
  const attrs: Record<string, AttrValue> = {};
  for (const a of n.attribute) {
    if (!(a.name in kinds)) throw new OnnxFormatError(`node '${n.name}' (${n.opType}) has attribute '${a.name}', which multisiam does not support`);
    attrs[a.name] =
      a.type === ATTR_TYPE.INT ? Number(a.i ?? 0)
      : a.type === ATTR_TYPE.FLOAT ? (a.f ?? 0)
      : a.type === ATTR_TYPE.STRING ? new TextDecoder().decode(a.s ?? new Uint8Array())
      : a.type === ATTR_TYPE.INTS ? (a.ints ?? []).map(Number)
      : (a.floats ?? []);
  }
  return attrs;
}

/** A dimension as written: a size, or the name of a symbolic one. */
type Dim = number | string;

function valueInfo(name: string, dtype: DType, shape: readonly Dim[], docString?: string): ValueInfoMsg {
  const dim = shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  const vi: ValueInfoMsg = { name, type: { tensorType: { elemType: ONNX_DTYPE[dtype], shape: { dim } } } };
  if (docString) vi.docString = docString;
  return vi;
}

function typeOf(vi: ValueInfoMsg, source: string): [DType, number[]] {
  const t = vi.type?.tensorType;
  if (!t) throw new OnnxFormatError(`${source}: input '${vi.name}' is not a tensor`);
  const shape = (t.shape?.dim ?? []).map((d) => {
    if (d.dimValue === undefined) throw new OnnxFormatError(`${source}: input '${vi.name}' has a symbolic dimension '${d.dimParam ?? '?'}'; multisiam graphs have static shapes`);
    return Number(d.dimValue);
  });
  return [dtypeFromOnnx(t.elemType), shape];
}

function roleDoc(role: InputRole, group?: ParamGroup): string {
  return group ? `role=${role} group=${group}` : `role=${role}`;
}

function parseRoleDoc(doc: string | undefined): { role: InputRole; group?: ParamGroup } {
  const role = /role=(\w+)/.exec(doc ?? '')?.[1] as InputRole | undefined;
  const group = /group=(\w+)/.exec(doc ?? '')?.[1] as ParamGroup | undefined;
  return group ? { role: role ?? 'data', group } : { role: role ?? 'data' };
}

function tensorData(t: TensorMsg, readExternal: ((location: string) => Uint8Array) | undefined, source: string): TensorData {
  const dtype = dtypeFromOnnx(t.dataType);
  const size = shapeSize(t.dims.map(Number));
  if (t.dataLocation === 1) {
    const entry = (k: string) => t.externalData?.find((e) => e.key === k)?.value;
    const location = entry('location');
    if (!location || !readExternal) throw new OnnxFormatError(`${source}: tensor '${t.name}' has external data but no file to read it from`);
    const offset = Number(entry('offset') ?? 0);
    const length = Number(entry('length') ?? size * BYTES_PER_ELEMENT[dtype]);
    return fromBytes(dtype, readExternal(location).subarray(offset, offset + length), size, `${source}: tensor '${t.name}'`);
  }
  if (t.rawData && t.rawData.length > 0) return fromBytes(dtype, t.rawData, size, `${source}: tensor '${t.name}'`);
  const typed = t.floatData ?? t.int32Data ?? t.int64Data ?? t.doubleData ?? [];
  const out = allocate(dtype, size);
  for (let i = 0; i < size; i++) (out as Float64Array)[i] = dtype === 'int64' ? (BigInt(typed[i] ?? 0) as unknown as number) : Number(typed[i] ?? 0);
  return out;
}

function fromBytes(dtype: DType, bytes: Uint8Array, size: number, what: string): TensorData {
  const n = size * BYTES_PER_ELEMENT[dtype];
  if (bytes.length !== n) throw new OnnxFormatError(`${what}: expected ${n} bytes of ${dtype}, found ${bytes.length}`);
  const copy = new Uint8Array(bytes); // aligned copy, independent of the file buffer
  const out = allocate(dtype, size);
  new Uint8Array(out.buffer).set(copy);
  return out;
}

class ExternalWriter {
  private readonly chunks: Uint8Array[] = [];
  private offset = 0;
  constructor(private readonly location: string | undefined, private readonly threshold: number) {}

  tensor(name: string, dtype: DType, shape: readonly number[], data: TensorData): TensorMsg {
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const base = { name, dims: [...shape], dataType: ONNX_DTYPE[dtype] };
    if (!this.location || raw.length < this.threshold) return { ...base, rawData: raw };
    const pad = (EXTERNAL_ALIGN - (this.offset % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
    if (pad) this.chunks.push(new Uint8Array(pad));
    this.offset += pad;
    const msg: TensorMsg = {
      ...base,
      dataLocation: 1,
      externalData: [
        { key: 'location', value: this.location },
        { key: 'offset', value: String(this.offset) },
        { key: 'length', value: String(raw.length) },
      ],
    };
    this.chunks.push(raw);
    this.offset += raw.length;
    return msg;
  }

  bytes(): Uint8Array | undefined {
    if (this.chunks.length === 0) return undefined;
    return Buffer.concat(this.chunks);
  }
}
