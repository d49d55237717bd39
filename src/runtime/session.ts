/**
 * Sessions over ONNX Runtime's C API (src/runtime/ort): execution-provider choice with errors that
 * say what is missing, strict feeds (ONNX Runtime silently ignores unknown feed names), dtype, shape
 * and memory checks against the model's declared inputs, and outputs that may stay in the
 * provider's memory between runs. Every run goes through IO binding on a worker thread.
 *
 *   const s = await Session.create(bytes, { ep: 'cuda', residentOutputs: ['next.w'] }, 'train_step');
 *   const w = await s.upload(w0, [64, 3, 7, 7]);  // initial state on the device, once
 *   const r = await s.execute({ w, x });           // a RunResult: owns the outputs until dispose()
 *   const loss = await r.scalar('loss');           // a host output (or downloaded)
 *   const w2 = r.keep('next.w');                   // carried into the next run, caller disposes it
 *   r.dispose();
 *
 * `run()` is the host-only form (plain tensors, nothing to dispose); it refuses sessions that keep
 * outputs in GPU memory. See residency.ts for ownership rules and transfer.ts for device copies.
 */
import { type DType, type TensorData, shapeSize } from '../onnx/dtype.js';
import { FeedError, OrtLibraryError, ResidencyError, closest, listNames } from './errors.js';
import type { ValueHandle } from './ort/api.js';
import { Binding } from './ort/binding.js';
import { NativeSession, type TensorSpec } from './ort/session.js';
import { describeTensor, hostTensor, readHostTensor, releaseValue } from './ort/value.js';
import { type ConcreteProvider, providerAttempts } from './providers.js';
import { Cell, type Memory, Resident, RunResult, arrayDType, releaseAfterDeviceTensors } from './residency.js';
import { type SessionOptions, sessionPlan } from './session-options.js';
import { Transfer } from './transfer.js';

export type { CudaOptions, SessionOptions } from './session-options.js';
export type { TensorSpec } from './ort/session.js';

/** A host tensor: what `run()` returns for each output; also accepted as a feed. */
export interface Tensor {
  readonly type: DType;
  readonly dims: readonly number[];
  readonly data: TensorData;
}

/** A feed: a typed array of the input's declared shape, a host Tensor, or a Resident from an earlier run or upload. */
export type Feed = TensorData | Tensor | Resident;

export interface ExecuteOptions {
  /** Outputs to compute (all by default). */
  readonly fetches?: readonly string[];
  /**
   * Outputs written in place into these residents (this session's memory, the output's dtype and
   * shape) instead of into new tensors. They are not part of the RunResult: the caller holds them.
   * CUDA graphs need this, since a replay writes to the addresses captured on the first runs.
   */
  readonly outputs?: Readonly<Record<string, Resident>>;
  /**
   * CUDA graphs: the captured graph this run uses (run config entry `gpu_graph_id`). State carried
   * between two sets of residents (A→B, then B→A) needs two graphs, e.g. ids 1 and 2 in turn.
   * Other providers ignore it.
   */
  readonly graphId?: number;
}

/** What a call was checked into, before it waits for the session: inputs copied, outputs chosen. */
interface Staged {
  readonly inputs: { readonly name: string; readonly temp: ValueHandle | null; readonly resident: Cell | null }[];
  readonly into: readonly { readonly name: string; readonly cell: Cell }[];
  readonly fetched: readonly string[];
  readonly config: Readonly<Record<string, string>>;
}

export class Session {
  private runs = 0;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly residentSet: ReadonlySet<string>;
  /** Where this session's resident outputs live. */
  readonly residentMemory: Memory;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];

  private constructor(
    private readonly native: NativeSession,
    /** The provider the session runs on (for `auto`, the one that loaded). */
    readonly ep: ConcreteProvider,
    readonly modelName: string,
    /** Outputs kept in the provider's memory (`residentOutputs`), on every provider. */
    readonly residentOutputs: readonly string[],
    /** For `auto`: why each earlier provider was skipped. */
    readonly skipped: readonly string[],
    private readonly options: SessionOptions,
    private readonly transfer: Transfer | null,
  ) {
    this.residentSet = new Set(residentOutputs);
    this.residentMemory = ep === 'cpu' ? 'host' : ep;
    this.inputNames = native.inputs.map((i) => i.name);
    this.outputNames = native.outputs.map((o) => o.name);
  }

  /** Creates a session from a model path or bytes. `name` is used in error messages. */
  static async create(model: string | Uint8Array, options: SessionOptions = {}, name = typeof model === 'string' ? model : 'model'): Promise<Session> {
    const skipped: string[] = [];
    let lastError: Error | null = null;
    for (const attempt of providerAttempts(options.ep ?? 'cpu')) {
      const deviceId = attempt.name === 'cuda' ? (options.cuda?.deviceId ?? 0) : 0;
      let native: NativeSession;
      try {
        native = NativeSession.create(model, attempt.name, deviceId, sessionPlan(attempt.name, options), options.externalData);
      } catch (e) {
        if (e instanceof OrtLibraryError) throw e;
        lastError = attempt.explain(e as Error, name);
        if (!attempt.fallThrough) throw lastError;
        skipped.push(`${attempt.name}: ${lastError.message}`);
        continue;
      }
      const outputs = native.outputs.map((o) => o.name);
      const resident = options.residentOutputs === 'all' ? outputs : [...(options.residentOutputs ?? [])];
      const unknown = resident.filter((r) => !outputs.includes(r));
      if (unknown.length > 0) {
        native.release();
        throw new FeedError(`${name}: residentOutputs names ${listNames(unknown)}, not an output of the model; its outputs are ${listNames(outputs)}`);
      }
      const transfer = attempt.name === 'cpu' ? null : new Transfer(attempt.name, deviceId, options, `session '${name}'`);
      return new Session(native, attempt.name, name, resident, skipped, options, transfer);
    }
    throw lastError ?? new Error(`${name}: no execution provider could be created`);
  }

  get inputs(): readonly TensorSpec[] {
    return this.native.inputs;
  }
  get outputs(): readonly TensorSpec[] {
    return this.native.outputs;
  }
  /** Outputs that stay in GPU memory (resident outputs on cuda and webgpu; none on cpu). */
  get deviceOutputs(): readonly string[] {
    return this.ep === 'cpu' ? [] : this.residentOutputs;
  }

  input(name: string): TensorSpec {
    const spec = this.inputs.find((i) => i.name === name);
    if (!spec) throw new FeedError(unknownMessage(this.modelName, 'input', [name], this.inputNames));
    return spec;
  }

  /**
   * Runs the model and returns a RunResult that owns its outputs: read or keep() what you need,
   * then dispose() it. Every declared input must be fed and no other name may appear. Host feeds
   * are copied when this is called; runs of one session happen one at a time, in call order.
   */
  async execute(feeds: Readonly<Record<string, Feed>>, options: ExecuteOptions = {}): Promise<RunResult> {
    const staged = this.stage(feeds, options);
    return this.serial(() => this.runStaged(staged));
  }

  /**
   * Runs the model and returns plain host tensors (nothing to dispose). Refuses a session that
   * keeps outputs in GPU memory: use `execute()` there.
   */
  async run(feeds: Readonly<Record<string, Feed>>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
    if (this.deviceOutputs.length > 0) {
      throw new ResidencyError(`${this.modelName}: outputs ${listNames(this.deviceOutputs)} stay on the GPU, so run() cannot return them; use execute(), which returns a RunResult to read, keep() and dispose()`);
    }
    const result = await this.execute(feeds, fetches ? { fetches } : {});
    try {
      return Object.fromEntries(result.names.map((n) => [n, { type: result.dtype(n), dims: result.dims(n), data: result.host(n) }]));
    } finally {
      result.dispose();
    }
  }

  /**
   * A new Resident in this session's memory holding a copy of `data` (device memory on cuda and
   * webgpu): put initial state on the device once, then feed it and keep() its successors.
   * `dtype` tells bool from uint8 for a Uint8Array.
   */
  async upload(data: TensorData, dims: readonly number[], dtype?: DType): Promise<Resident> {
    const type = arrayDType(data, dtype);
    const n = shapeSize(dims);
    if (!type || (dtype && dtype !== type) || data.length !== n) {
      throw new FeedError(`${this.modelName}: upload of ${dtype ?? type ?? 'unsupported'} ${fmt(dims)} (${n} elements) got a ${data.constructor.name} of ${data.length} elements`);
    }
    this.open();
    const label = `${type} ${fmt(dims)} uploaded to '${this.modelName}'`;
    // A resident may outlive this session, so it does not come from the session's arena.
    if (!this.transfer) return new Resident(new Cell('host', type, dims, label, hostTensor(type, dims, data)), null);
    const value = await this.transfer.upload({ dtype: type, dims }, data);
    return new Resident(new Cell(this.residentMemory, type, dims, label, value), this.transfer);
  }

  /** Waits for runs in flight, then releases the session and its copy sessions. Idempotent. */
  async release(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    const release = (): void => {
      this.transfer?.release();
      this.native.release();
    };
    if (this.transfer) releaseAfterDeviceTensors(release);
    else release();
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    // The queue must not hold the last result: a RunResult dropped by its caller has to be collectable.
    this.queue = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private open(): void {
    if (this.closed) throw new ResidencyError(`${this.modelName}: the session was released`);
  }

  private stage(feeds: Readonly<Record<string, Feed>>, options: ExecuteOptions): Staged {
    this.open();
    const names = Object.keys(feeds);
    const unknown = names.filter((k) => !this.inputNames.includes(k));
    if (unknown.length > 0) throw new FeedError(unknownMessage(this.modelName, 'input', unknown, this.inputNames));
    const missing = this.inputNames.filter((k) => !(k in feeds));
    if (missing.length > 0) throw new FeedError(`${this.modelName}: missing input${missing.length > 1 ? 's' : ''} ${listNames(missing)} (${missing.length} of ${this.inputNames.length} inputs not fed)`);
    const wanted = options.fetches ? [...options.fetches] : this.outputNames;
    const bad = wanted.filter((f) => !this.outputNames.includes(f));
    if (bad.length > 0) throw new FeedError(unknownMessage(this.modelName, 'output', bad, this.outputNames));

    const checked = this.inputs.map((spec) => ({ spec, feed: this.checkFeed(spec, feeds[spec.name]!) }));
    const into = Object.entries(options.outputs ?? {}).map(([name, resident]) => ({ name, cell: this.checkOutputTarget(name, resident, checked) }));
    const fetched = wanted.filter((f) => !into.some((o) => o.name === f));
    if (this.options.cuda?.cudaGraph) this.checkGraphDiscipline(checked, fetched);

    const inputs: Staged['inputs'][number][] = [];
    try {
      for (const { spec, feed } of checked) {
        if (feed instanceof Cell) inputs.push({ name: spec.name, temp: null, resident: feed });
        else inputs.push({ name: spec.name, temp: hostTensor(spec.dtype, spec.shape, feed, this.native.memory.hostAllocator), resident: null });
      }
    } catch (e) {
      for (const i of inputs) if (i.temp) releaseValue(i.temp);
      throw e;
    }
    return { inputs, into, fetched, config: options.graphId !== undefined ? { gpu_graph_id: String(options.graphId) } : {} };
  }

  /** Checks one feed against its declared input: host data to copy, or the cell of a resident to bind. */
  private checkFeed(spec: TensorSpec, feed: Feed): TensorData | Cell {
    const where = `${this.modelName}: input '${spec.name}' expects ${spec.dtype} ${fmt(spec.shape)}`;
    if (feed instanceof Resident) {
      if (feed.disposed) throw new ResidencyError(`${where}, got ${feed.label}, which was disposed`);
      const cell = feed.contents;
      if (cell.device && cell.memory !== this.residentMemory) {
        throw new ResidencyError(`${where}, got ${feed.label} in ${cell.memory} device memory, which only a ${cell.memory} session can read (this one runs on ${this.ep})`);
      }
      if (cell.dtype !== spec.dtype || !sameDims(cell.dims, spec.shape)) throw new FeedError(`${where}, got a ${cell.dtype} tensor ${fmt(cell.dims)}`);
      return cell.js() ?? cell;
    }
    if (ArrayBuffer.isView(feed)) {
      const data = feed as TensorData;
      const kind = (data as object).constructor.name;
      const an = /^[AEIOU]/.test(kind) ? 'an' : 'a';
      const dtype = arrayDType(data, spec.dtype);
      if (dtype !== spec.dtype) throw new FeedError(`${where}, got ${an} ${kind} (${dtype === 'uint8' ? 'uint8/bool' : (dtype ?? 'unsupported type')})`);
      const n = shapeSize(spec.shape);
      if (data.length !== n) throw new FeedError(`${where} (${n} elements), got ${an} ${kind} of ${data.length} elements`);
      return data;
    }
    if (feed && typeof feed === 'object' && 'dims' in feed && 'data' in feed && ArrayBuffer.isView(feed.data)) {
      if (feed.type !== spec.dtype || !sameDims(feed.dims, spec.shape) || arrayDType(feed.data, spec.dtype) !== spec.dtype || feed.data.length !== shapeSize(spec.shape)) {
        throw new FeedError(`${where}, got a ${feed.type} tensor ${fmt(feed.dims)}`);
      }
      return feed.data;
    }
    throw new FeedError(`${where}, got ${feed === null ? 'null' : typeof feed} (feed a typed array, a { type, dims, data } tensor or a Resident)`);
  }

  /** A preallocated output: this session's resident memory, the output's dtype and shape, and not also an input of the run. */
  private checkOutputTarget(name: string, target: Resident, inputs: readonly { spec: TensorSpec; feed: TensorData | Cell }[]): Cell {
    const spec = this.outputs.find((o) => o.name === name);
    if (!spec) throw new FeedError(unknownMessage(this.modelName, 'output', [name], this.outputNames));
    const where = `${this.modelName}: output '${name}' (${spec.dtype} ${fmt(spec.shape)}) is to be written into ${target.label}`;
    if (target.disposed) throw new ResidencyError(`${where}, which was disposed`);
    const cell = target.contents;
    if (cell.memory !== this.residentMemory) {
      throw new ResidencyError(`${where}, which is in ${cell.memory === 'js' ? 'JS' : cell.memory} memory, not this session's ${this.residentMemory} memory; create it with this session's upload() or keep() it from one of its runs`);
    }
    if (cell.dtype !== spec.dtype || !sameDims(cell.dims, spec.shape)) throw new FeedError(`${where}, which holds ${cell.dtype} ${fmt(cell.dims)}`);
    const alias = inputs.find((i) => i.feed === cell);
    if (alias) throw new FeedError(`${where}, which is also fed as input '${alias.spec.name}'; a run cannot overwrite its own input: alternate two residents (see graphId)`);
    return cell;
  }

  /** CUDA graphs replay captured addresses without checking them: every input and output must stay put. */
  private checkGraphDiscipline(inputs: readonly { spec: TensorSpec; feed: TensorData | Cell }[], fetched: readonly string[]): void {
    const moving = inputs.filter((i) => !(i.feed instanceof Cell) || i.feed.memory !== this.residentMemory).map((i) => i.spec.name);
    if (moving.length > 0) {
      throw new FeedError(`${this.modelName}: cuda.cudaGraph is on, so every input must be a Resident in this session's ${this.residentMemory} memory that keeps its address from run to run (upload() it once, then write() new data into it); not so: ${listNames(moving)}`);
    }
    if (fetched.length > 0) {
      throw new FeedError(`${this.modelName}: cuda.cudaGraph is on, so every output must be written into a preallocated Resident (execute(feeds, { outputs })); not preallocated: ${listNames(fetched)}`);
    }
  }

  private async runStaged(staged: Staged): Promise<RunResult> {
    const n = ++this.runs;
    const label = `run ${n} of '${this.modelName}'`;
    const binding = new Binding(this.native.handle);
    const memory = this.native.memory;
    let values: ValueHandle[] = [];
    try {
      for (const i of staged.inputs) binding.input(i.name, i.temp ?? i.resident!.native(`input '${i.name}' of ${label}`)!);
      for (const o of staged.into) binding.outputInto(o.name, o.cell.native(`the resident for output '${o.name}' of ${label}`)!);
      for (const name of staged.fetched) binding.outputTo(name, this.residentSet.has(name) ? memory.resident : memory.host);
      await binding.run(staged.config);
      values = binding.outputs();
    } catch (e) {
      if (e instanceof ResidencyError) throw e;
      throw new Error(`${this.modelName}: run ${n} failed on the '${this.ep}' execution provider: ${(e as Error).message.trim()}`);
    } finally {
      binding.release();
      for (const i of staged.inputs) if (i.temp) releaseValue(i.temp);
    }
    // Preallocated outputs come first (bound first); their values are extra references the caller's residents already hold.
    for (const v of values.slice(0, staged.into.length)) releaseValue(v);
    const outputs = values.slice(staged.into.length);
    const cells = new Map<string, Cell>();
    let k = 0;
    try {
      for (; k < outputs.length; k++) cells.set(staged.fetched[k]!, this.outputCell(staged.fetched[k]!, outputs[k]!, label));
    } catch (e) {
      for (const v of outputs.slice(k + 1)) releaseValue(v);
      for (const c of cells.values()) c.release();
      throw e;
    }
    return new RunResult(cells, label, this.transfer);
  }

  /** An output value as a cell: kept where it is if resident, else copied into JS and released. */
  private outputCell(name: string, value: ValueHandle, label: string): Cell {
    const what = `output '${name}' of ${label}`;
    let shape: { dtype: DType; dims: number[] };
    try {
      shape = describeTensor(value);
    } catch (e) {
      releaseValue(value);
      throw e;
    }
    if (this.residentSet.has(name)) return new Cell(this.residentMemory, shape.dtype, shape.dims, what, value);
    try {
      return new Cell('js', shape.dtype, shape.dims, what, readHostTensor(value, shape.dtype, shape.dims));
    } finally {
      releaseValue(value);
    }
  }
}

function unknownMessage(model: string, kind: 'input' | 'output', names: readonly string[], real: readonly string[]): string {
  const hints = names.map((n) => closest(n, real)).flat();
  const hint = hints.length > 0 ? ` (did you mean ${listNames([...new Set(hints)])}?)` : '';
  return `${model}: unknown ${kind} name${names.length > 1 ? 's' : ''} ${listNames(names)}${hint}; the model's ${kind}s are ${listNames(real)}`;
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
