/**
 * Where a step's tensors live and how they move (SPEC §3, §5): a policy the step runner is given, so
 * the step itself reads the same for every device.
 * - `host`: every output comes back to JS and the state is fed from JS each step (the loop before
 *   residency; kept as the reference a resident run must equal).
 * - `device`: the state and the target outputs stay in the provider's memory (`residentOutputs`);
 *   the batch is uploaded once per step; a step's `next.*` outputs become the state.
 * - `captured` (CUDA graphs): every input and output keeps its device address from step to step, as
 *   a captured graph replays them: the batch and the scalars are written into fixed tensors, the
 *   targets and metrics land in fixed tensors, and the state alternates between two sets (A → B,
 *   then B → A), each direction its own captured graph (`graphId` 1 and 2).
 */
import type { Manifest } from '../bundle/bundle.js';
import { NEXT_PREFIX } from '../graphs/io.js';
import type { DType, TensorData } from '../onnx/dtype.js';
import { type Resident, type RunResult, TensorStore, readMany } from '../runtime/residency.js';
import type { Feed, Session, SessionOptions } from '../runtime/session.js';

export type PlacementName = 'host' | 'device' | 'captured';

/** A target-forward output as the train step takes it, and as host K-means reads it. */
export interface TargetOutputs {
  feed(name: string): Feed;
  read(name: string): Promise<Float32Array>;
  dims(name: string): readonly number[];
}

/** A train step's outputs: its metrics, and taking its `next.*` values as the new state. */
export interface StepOutputs {
  metrics(names: readonly string[]): Promise<Record<string, number>>;
  adopt(): Promise<void>;
}

export interface Placement {
  /** The state as it stands now (a checkpoint reads it). */
  readonly state: TensorStore;
  /** Host data of this step (batch, scalars, rows, uniforms) as feeds. */
  stage(values: Readonly<Record<string, TensorData>>): Promise<Record<string, Feed>>;
  runTarget(session: Session, feeds: Record<string, Feed>, outputs: readonly string[]): Promise<TargetOutputs>;
  /** A target made on the host (K-means) as a feed for the train step. */
  hostTarget(name: string, data: Float32Array, dims: readonly number[]): Promise<Feed>;
  runStep(session: Session, feeds: Record<string, Feed>): Promise<StepOutputs>;
  /** Releases what this step made (uploads, kept outputs, results). */
  endStep(): void;
  /** Releases everything the placement holds, the state included. */
  release(): void;
}

/** What a placement asks of the sessions it drives. */
export function placementSessionOptions(name: PlacementName, resident: readonly string[]): Partial<SessionOptions> {
  if (name === 'device') return { residentOutputs: resident };
  return {};
}

/** Results of one step, disposed at its end. */
class StepScope {
  private readonly results: RunResult[] = [];
  private readonly residents: Resident[] = [];
  result(r: RunResult): RunResult {
    this.results.push(r);
    return r;
  }
  resident(r: Resident): Resident {
    this.residents.push(r);
    return r;
  }
  end(): void {
    for (const r of this.results.splice(0)) r.dispose();
    for (const r of this.residents.splice(0)) r.dispose();
  }
}

function outputsOf(r: RunResult): TargetOutputs {
  return {
    feed: (name) => r.host(name),
    read: async (name) => (await r.read(name)) as Float32Array,
    dims: (name) => r.dims(name),
  };
}

async function scalars(r: RunResult, names: readonly string[]): Promise<Record<string, number>> {
  return Object.fromEntries(await Promise.all(names.map(async (n) => [n, await r.scalar(n)] as const)));
}

class HostPlacement implements Placement {
  private readonly scope = new StepScope();
  constructor(readonly state: TensorStore) {}

  async stage(values: Readonly<Record<string, TensorData>>): Promise<Record<string, Feed>> {
    return { ...values };
  }
  async runTarget(session: Session, feeds: Record<string, Feed>, outputs: readonly string[]): Promise<TargetOutputs> {
    return outputsOf(this.scope.result(await session.execute(feeds, { fetches: outputs })));
  }
  async hostTarget(_name: string, data: Float32Array): Promise<Feed> {
    return data;
  }
  async runStep(session: Session, feeds: Record<string, Feed>): Promise<StepOutputs> {
    const out = this.scope.result(await session.execute(feeds));
    return {
      metrics: (names) => scalars(out, names),
      adopt: async () => {
        for (const name of out.names.filter((n) => n.startsWith(NEXT_PREFIX))) this.state.set(name.slice(NEXT_PREFIX.length), await out.read(name));
      },
    };
  }
  endStep(): void {
    this.scope.end();
  }
  release(): void {
    this.scope.end();
    this.state.dispose();
  }
}

class DevicePlacement implements Placement {
  private readonly scope = new StepScope();
  constructor(
    readonly state: TensorStore,
    private readonly uploader: Session,
    private readonly specs: ReadonlyMap<string, { dtype: DType; shape: readonly number[] }>,
    /** Inputs both graphs read (the views): uploaded once; the rest go up as each run binds them. */
    private readonly shared: ReadonlySet<string>,
  ) {}

  async stage(values: Readonly<Record<string, TensorData>>): Promise<Record<string, Feed>> {
    // One after another: ONNX Runtime's WebGPU device is not safe to use from two runs at once.
    const feeds: Record<string, Feed> = { ...values };
    for (const [name, data] of Object.entries(values)) {
      if (!this.shared.has(name)) continue;
      const spec = this.specs.get(name)!;
      feeds[name] = this.scope.resident(await this.uploader.upload(data, spec.shape, spec.dtype));
    }
    return feeds;
  }
  async runTarget(session: Session, feeds: Record<string, Feed>, outputs: readonly string[]): Promise<TargetOutputs> {
    const r = this.scope.result(await session.execute(feeds, { fetches: outputs }));
    return { ...outputsOf(r), feed: (name) => this.scope.resident(r.keep(name)) };
  }
  async hostTarget(_name: string, data: Float32Array): Promise<Feed> {
    return data;
  }
  async runStep(session: Session, feeds: Record<string, Feed>): Promise<StepOutputs> {
    const out = this.scope.result(await session.execute(feeds));
    return { metrics: (names) => scalars(out, names), adopt: async () => void this.state.advance(out, NEXT_PREFIX) };
  }
  endStep(): void {
    this.scope.end();
  }
  release(): void {
    this.scope.end();
    this.state.dispose();
  }
}

/**
 * Fixed device addresses for CUDA-graph replay: inputs and targets written in place, metrics read
 * from fixed tensors, the state in two sets that take turns (see the file comment).
 */
class CapturedPlacement implements Placement {
  private parity: 0 | 1 = 0;
  private readonly fixed = new Map<string, Resident>();

  private constructor(
    private readonly sets: readonly [TensorStore, TensorStore],
    private readonly uploader: Session,
    private readonly specs: ReadonlyMap<string, { dtype: DType; shape: readonly number[] }>,
  ) {}

  /** Two device copies of the initial state (the host store is released). */
  static async create(initial: TensorStore, uploader: Session, specs: ReadonlyMap<string, { dtype: DType; shape: readonly number[] }>, manifest: Manifest): Promise<CapturedPlacement> {
    const sets: [TensorStore, TensorStore] = [new TensorStore(), new TensorStore()];
    for (const t of manifest.tensors) {
      const data = await initial.read(t.name);
      for (const set of sets) set.set(t.name, await uploader.upload(data, t.shape, 'float32'));
    }
    initial.dispose();
    return new CapturedPlacement(sets, uploader, specs);
  }

  get state(): TensorStore {
    return this.sets[this.parity];
  }

  /** The fixed tensor for `name`, made on first use (zeros of its declared shape). */
  private async slot(name: string, spec?: { dtype: DType; shape: readonly number[] }): Promise<Resident> {
    let r = this.fixed.get(name);
    if (!r) {
      const s = spec ?? this.specs.get(name);
      if (!s) throw new Error(`internal: no shape for fixed tensor '${name}'`);
      const zeros = s.dtype === 'int64' ? new BigInt64Array(s.shape.reduce((a, b) => a * b, 1)) : s.dtype === 'uint8' ? new Uint8Array(s.shape.reduce((a, b) => a * b, 1)) : new Float32Array(s.shape.reduce((a, b) => a * b, 1));
      r = await this.uploader.upload(zeros, s.shape, s.dtype);
      this.fixed.set(name, r);
    }
    return r;
  }

  async stage(values: Readonly<Record<string, TensorData>>): Promise<Record<string, Feed>> {
    const feeds: Record<string, Feed> = {};
    for (const [name, data] of Object.entries(values)) {
      const slot = await this.slot(name);
      await slot.write(data);
      feeds[name] = slot;
    }
    return feeds;
  }

  private graphId(): number {
    return 1 + this.parity;
  }

  async runTarget(session: Session, feeds: Record<string, Feed>, outputs: readonly string[]): Promise<TargetOutputs> {
    const into: Record<string, Resident> = {};
    for (const name of outputs) into[name] = await this.slot(`target:${name}`, session.outputs.find((o) => o.name === name));
    (await session.execute(feeds, { fetches: outputs, outputs: into, graphId: this.graphId() })).dispose();
    return { feed: (name) => into[name]!, read: async (name) => (await into[name]!.read()) as Float32Array, dims: (name) => into[name]!.dims };
  }

  async hostTarget(name: string, data: Float32Array): Promise<Feed> {
    const slot = await this.slot(name);
    await slot.write(data);
    return slot;
  }

  async runStep(session: Session, feeds: Record<string, Feed>): Promise<StepOutputs> {
    const next = this.sets[1 - this.parity]!;
    const into: Record<string, Resident> = {};
    for (const o of session.outputs) {
      if (o.name.startsWith(NEXT_PREFIX)) into[o.name] = next.get(o.name.slice(NEXT_PREFIX.length)) as Resident;
      else into[o.name] = await this.slot(`metric:${o.name}`, o);
    }
    (await session.execute(feeds, { outputs: into, graphId: this.graphId() })).dispose();
    return {
      metrics: async (names) => {
        const values = await readMany(names.map((n) => into[n]!));
        return Object.fromEntries(names.map((n, i) => [n, Number(values[i]![0])]));
      },
      adopt: async () => {
        this.parity = this.parity === 0 ? 1 : 0;
      },
    };
  }

  endStep(): void {
    // Nothing per step: every tensor is fixed.
  }

  release(): void {
    for (const r of this.fixed.values()) r.dispose();
    this.fixed.clear();
    for (const set of this.sets) set.dispose();
  }
}

/**
 * The placement `name` over the initial state `store` for a train step and a target forward (whose
 * device `upload` goes through the train step).
 */
export async function createPlacement(name: PlacementName, store: TensorStore, trainStep: Session, targetForward: Session, manifest: Manifest): Promise<Placement> {
  const specs = new Map([...targetForward.inputs, ...trainStep.inputs].map((i) => [i.name, i]));
  if (name === 'host') return new HostPlacement(store);
  if (name === 'device') return new DevicePlacement(store, trainStep, specs, new Set(trainStep.inputNames.filter((n) => targetForward.inputNames.includes(n))));
  return CapturedPlacement.create(store, trainStep, specs, manifest);
}
