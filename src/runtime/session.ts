/**
 * A thin layer over onnxruntime-node sessions: execution-provider choice with errors that say what
 * is missing, strict feeds (ONNX Runtime silently ignores unknown feed names), dtype, shape and
 * location checks against the model's declared inputs, and outputs that may stay on the GPU.
 *
 *   const s = await Session.create(bytes, { ep: 'webgpu', gpuOutputs: ['next.w'] }, 'train_step');
 *   const r = await s.execute({ w, x });        // a RunResult: owns the outputs until dispose()
 *   const loss = await r.scalar('loss');        // downloads if it is on the GPU
 *   const w2 = r.keep('next.w');                // carried into the next run, caller disposes it
 *   r.dispose();
 *
 * `run()` is the host-only form (plain tensors, nothing to dispose); it refuses sessions that keep
 * outputs on the GPU. See residency.ts for ownership rules.
 */
import ort from 'onnxruntime-node';
import { type DType, type TensorData, shapeSize } from '../onnx/dtype.js';
import { Graph } from '../onnx/ir.js';
import { writeModel } from '../onnx/serialize.js';
import { FeedError, ResidencyError, closest, listNames } from './errors.js';
import { type ConcreteProvider, type ExecutionProvider, providerAttempts } from './providers.js';
import { type Downloader, Resident, RunResult, dtypeOfTensor, isDeviceTensor } from './residency.js';

export type Tensor = ort.Tensor;

export interface SessionOptions {
  /** `cpu` (default), `webgpu`, `cuda`, or `auto` (the first that loads of cuda, webgpu, cpu). */
  readonly ep?: ExecutionProvider;
  readonly threads?: number;
  /** Graph optimisation level; 'basic' by default (with weights as inputs 'all' is often slower). */
  readonly optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Outputs to keep on the GPU as gpu-buffer tensors (all of them with 'all'). Honoured by WebGPU;
   * on cpu and cuda outputs are host tensors and the same RunResult code works unchanged.
   */
  readonly gpuOutputs?: readonly string[] | 'all';
  /** External data files for a model given as bytes, by the location the model names. */
  readonly externalData?: readonly { path: string; data: Uint8Array }[];
  /** WebGPU: node names to run on the CPU (kernels that throw on WebGPU). */
  readonly forceCpuNodes?: readonly string[];
  /** WebGPU/CUDA: fail at creation if any node would fall back to the CPU provider. */
  readonly deviceOnly?: boolean;
  /** CUDA: the GPU ordinal. */
  readonly deviceId?: number;
}

/** A feed: a typed array of the input's declared shape, an ORT tensor, or a Resident from an earlier run. */
export type Feed = TensorData | Tensor | Resident;

export interface TensorSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

export interface ExecuteOptions {
  /** Outputs to compute (all by default). */
  readonly fetches?: readonly string[];
}

const ARRAY_DTYPES: readonly [Function, readonly DType[]][] = [
  [Float32Array, ['float32']],
  [Float64Array, ['float64']],
  [BigInt64Array, ['int64']],
  [Int32Array, ['int32']],
  [Uint8Array, ['uint8', 'bool']],
];

export class Session {
  private runs = 0;
  private readonly downloads = new Map<string, Promise<ort.InferenceSession>>();

  private constructor(
    private readonly session: ort.InferenceSession,
    /** The provider the session runs on (for `auto`, the one that loaded). */
    readonly ep: ConcreteProvider,
    readonly modelName: string,
    readonly inputs: readonly TensorSpec[],
    readonly outputs: readonly TensorSpec[],
    /** Outputs that come back as GPU tensors (empty unless WebGPU with gpuOutputs). */
    readonly deviceOutputs: readonly string[],
    /** For `auto`: why each earlier provider was skipped. */
    readonly skipped: readonly string[],
    private readonly options: SessionOptions,
  ) {}

  /** Creates a session from a model path or bytes. `name` is used in error messages. */
  static async create(model: string | Uint8Array, options: SessionOptions = {}, name = typeof model === 'string' ? model : 'model'): Promise<Session> {
    const skipped: string[] = [];
    let lastError: Error | null = null;
    for (const attempt of providerAttempts(options.ep ?? 'cpu')) {
      const sessionOptions = ortOptions(attempt.name, options);
      try {
        const session = typeof model === 'string' ? await ort.InferenceSession.create(model, sessionOptions) : await ort.InferenceSession.create(model, sessionOptions);
        const outputs = specs(session.outputMetadata);
        const gpu = options.gpuOutputs === 'all' ? outputs.map((o) => o.name) : [...(options.gpuOutputs ?? [])];
        const unknown = gpu.filter((g) => !outputs.some((o) => o.name === g));
        if (unknown.length > 0) {
          await session.release();
          throw new FeedError(`${name}: gpuOutputs names ${listNames(unknown)}, not an output of the model; its outputs are ${listNames(outputs.map((o) => o.name))}`);
        }
        return new Session(session, attempt.name, name, specs(session.inputMetadata), outputs, attempt.name === 'webgpu' ? gpu : [], skipped, options);
      } catch (e) {
        if (e instanceof FeedError) throw e;
        const msg = (e as Error).message;
        const bad = /"([^"]+)" is not a valid output name/.exec(msg);
        if (bad) throw new FeedError(`${name}: gpuOutputs names '${bad[1]}', which is not an output of the model`);
        lastError = attempt.explain(e as Error, name);
        if (!attempt.fallThrough) throw lastError;
        skipped.push(`${attempt.name}: ${lastError.message}`);
      }
    }
    throw lastError ?? new Error(`${name}: no execution provider could be created`);
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  input(name: string): TensorSpec {
    const spec = this.inputs.find((i) => i.name === name);
    if (!spec) throw new FeedError(unknownMessage(this.modelName, 'input', [name], this.inputNames));
    return spec;
  }

  /**
   * Runs the model and returns a RunResult that owns its outputs: read or keep() what you need,
   * then dispose() it. Every declared input must be fed and no other name may appear.
   */
  async execute(feeds: Readonly<Record<string, Feed>>, options: ExecuteOptions = {}): Promise<RunResult> {
    const [ortFeeds, fetches] = this.prepare(feeds, options.fetches);
    const n = ++this.runs;
    const out = await this.ortRun(ortFeeds, fetches, n);
    return new RunResult(out, `run ${n} of '${this.modelName}'`, this.deviceOutputs.length > 0 ? this.downloader : null);
  }

  /**
   * Runs the model and returns plain host tensors (nothing to dispose). Refuses a session that
   * keeps outputs on the GPU: use `execute()` there.
   */
  async run(feeds: Readonly<Record<string, Feed>>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
    if (this.deviceOutputs.length > 0) {
      throw new ResidencyError(`${this.modelName}: outputs ${listNames(this.deviceOutputs)} stay on the GPU, so run() cannot return them; use execute(), which returns a RunResult to read, keep() and dispose()`);
    }
    const [ortFeeds, f] = this.prepare(feeds, fetches);
    return this.ortRun(ortFeeds, f, ++this.runs);
  }

  /** ONNX Runtime's run, with its errors (a kernel failing at run time) prefixed by model and run. */
  private async ortRun(feeds: Record<string, Tensor>, fetches: string[] | undefined, n: number): Promise<Record<string, Tensor>> {
    try {
      return fetches ? await this.session.run(feeds, fetches) : await this.session.run(feeds);
    } catch (e) {
      throw new Error(`${this.modelName}: run ${n} failed on the '${this.ep}' execution provider: ${(e as Error).message.trim()}`);
    }
  }

  async release(): Promise<void> {
    for (const s of this.downloads.values()) await (await s).release();
    this.downloads.clear();
    await this.session.release();
  }

  private prepare(feeds: Readonly<Record<string, Feed>>, fetches?: readonly string[]): [Record<string, Tensor>, string[] | undefined] {
    const names = Object.keys(feeds);
    const unknown = names.filter((k) => !this.inputs.some((i) => i.name === k));
    if (unknown.length > 0) throw new FeedError(unknownMessage(this.modelName, 'input', unknown, this.inputNames));
    const missing = this.inputNames.filter((k) => !(k in feeds));
    if (missing.length > 0) throw new FeedError(`${this.modelName}: missing input${missing.length > 1 ? 's' : ''} ${listNames(missing)} (${missing.length} of ${this.inputNames.length} inputs not fed)`);
    const ortFeeds: Record<string, Tensor> = {};
    for (const spec of this.inputs) ortFeeds[spec.name] = this.toTensor(spec, feeds[spec.name]!);
    if (!fetches) return [ortFeeds, undefined];
    const bad = fetches.filter((f) => !this.outputNames.includes(f));
    if (bad.length > 0) throw new FeedError(unknownMessage(this.modelName, 'output', bad, this.outputNames));
    return [ortFeeds, [...fetches]];
  }

  private toTensor(spec: TensorSpec, feed: Feed): Tensor {
    const where = `${this.modelName}: input '${spec.name}' expects ${spec.dtype} ${fmt(spec.shape)}`;
    if (feed instanceof Resident) {
      if (feed.disposed) throw new ResidencyError(`${where}, got ${feed.label}, which was disposed`);
      return this.checkTensor(spec, feed.tensor, where);
    }
    if (ArrayBuffer.isView(feed)) {
      const data = feed as TensorData;
      const kinds = ARRAY_DTYPES.find(([ctor]) => data instanceof ctor)?.[1] ?? [];
      const kind = (data as object).constructor.name;
      const an = /^[AEIOU]/.test(kind) ? 'an' : 'a';
      if (!kinds.includes(spec.dtype)) throw new FeedError(`${where}, got ${an} ${kind} (${kinds.join('/') || 'unsupported type'})`);
      const n = shapeSize(spec.shape);
      if (data.length !== n) throw new FeedError(`${where} (${n} elements), got ${an} ${kind} of ${data.length} elements`);
      return spec.dtype === 'bool' ? new ort.Tensor('bool', data as Uint8Array, [...spec.shape]) : new ort.Tensor(spec.dtype, data as Float32Array, [...spec.shape]);
    }
    if (feed && typeof feed === 'object' && 'dims' in feed && 'type' in feed) return this.checkTensor(spec, feed, where);
    throw new FeedError(`${where}, got ${feed === null ? 'null' : typeof feed} (feed a typed array, an ort.Tensor or a Resident)`);
  }

  private checkTensor(spec: TensorSpec, t: Tensor, where: string): Tensor {
    if (t.location === 'none') throw new ResidencyError(`${where}, got a disposed tensor`);
    if (isDeviceTensor(t) && this.ep !== 'webgpu') throw new ResidencyError(`${where}, got a ${t.location} tensor, which only a webgpu session can read (this one runs on ${this.ep})`);
    const dtype = dtypeOfTensor(t);
    if (dtype !== spec.dtype || !sameDims(t.dims, spec.shape)) throw new FeedError(`${where}, got a ${dtype} tensor ${fmt(t.dims)}`);
    return t;
  }

  /** Copies a GPU tensor to the host by running it through an Identity model with a host output. */
  private readonly downloader: Downloader = async (tensor, what) => {
    const dtype = dtypeOfTensor(tensor);
    const key = `${dtype}:${tensor.dims.join('x')}`;
    let pending = this.downloads.get(key);
    if (!pending) {
      const g = new Graph(`download ${key}`);
      g.output('y', g.input('x', dtype, tensor.dims));
      pending = ort.InferenceSession.create(writeModel(g).model, ortOptions(this.ep, { threads: this.options.threads ?? 1, optimization: 'disabled' }));
      this.downloads.set(key, pending);
    }
    const s = await pending;
    const out = await s.run({ x: tensor });
    const y = out.y!;
    if (isDeviceTensor(y)) throw new ResidencyError(`downloading ${what}: the copy came back on the GPU`);
    return y.data as TensorData;
  };
}

/** The onnxruntime-node session options for one provider attempt (exported for tests of the plumbing). */
export function ortOptions(ep: ConcreteProvider, options: SessionOptions): ort.InferenceSession.SessionOptions {
  const provider: ort.InferenceSession.ExecutionProviderConfig =
    ep === 'webgpu' ? { name: 'webgpu', ...(options.forceCpuNodes?.length ? { forceCpuNodeNames: [...options.forceCpuNodes] } : {}) }
    : ep === 'cuda' ? { name: 'cuda', deviceId: options.deviceId ?? 0 }
    : 'cpu';
  const gpu = ep === 'webgpu' ? options.gpuOutputs : undefined;
  return {
    executionProviders: [provider],
    graphOptimizationLevel: options.optimization ?? 'basic',
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    ...(gpu === 'all' ? { preferredOutputLocation: 'gpu-buffer' as const } : gpu?.length ? { preferredOutputLocation: Object.fromEntries(gpu.map((o) => [o, 'gpu-buffer' as const])) } : {}),
    ...(options.externalData ? { externalData: options.externalData.map((e) => ({ path: e.path, data: e.data })) } : {}),
    ...(options.deviceOnly && ep !== 'cpu' ? { extra: { session: { disable_cpu_ep_fallback: '1' } } } : {}),
  };
}

const ORT_DTYPES: Readonly<Record<string, DType>> = { float32: 'float32', float64: 'float64', int64: 'int64', int32: 'int32', uint8: 'uint8', bool: 'bool' };

function specs(meta: readonly ort.InferenceSession.ValueMetadata[]): TensorSpec[] {
  const out: TensorSpec[] = [];
  for (const m of meta) {
    if (!m.isTensor) continue;
    const dtype = ORT_DTYPES[m.type];
    if (!dtype) throw new FeedError(`value '${m.name}' has type ${m.type}, which multisiam does not support`);
    out.push({ name: m.name, dtype, shape: m.shape.map(Number) });
  }
  return out;
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
