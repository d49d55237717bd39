/**
 * One training step on the device (SPEC §2, §5): target forward → targets (copied on the device, or
 * per-image K-means on the host) → train step (forward, backward, optimizer, target-network update,
 * queue updates, finiteness check) → adopt the `next.*` outputs when `finite` says so. The graphs
 * are functional, so skipping a step is keeping the tensors that were fed.
 */
import { join } from 'node:path';
import { type GraphKey, GRAPH_FILES } from '../bundle/bundle.js';
import type { MultiSiamConfig } from '../config/schema.js';
import type { PairBatch } from '../data/batch.js';
import { Rng } from '../data/rng.js';
import { NAMES, NEXT_PREFIX } from '../graphs/io.js';
import type { TensorData } from '../onnx/dtype.js';
import type { ExecutionProvider } from '../runtime/providers.js';
import { Resident, type RunResult, type TensorStore } from '../runtime/residency.js';
import { type Feed, Session } from '../runtime/session.js';
import { batchFeeds } from './data.js';
import type { TargetLink } from '../methods/method.js';
import { shapeSize } from '../onnx/dtype.js';
import { QueueCursor } from './queue.js';
import type { PreparedRun } from './run.js';
import { HostTargets } from './targets.js';

/** Where the state lives between steps: in the provider's memory (no copies), or copied to the host every step. */
export type Residency = 'device' | 'host';

/** Links whose target stays on the device: copies, and K-means done in the graph. */
function onDevice(link: TargetLink): boolean {
  return link.transform.kind === 'copy' || link.transform.backend === 'graph';
}

/** What one step produced: loss terms, or the reason it was skipped; and where its time went (ms). */
export interface StepResult {
  readonly problem: string | null;
  /** Whether the train step ran (a non-finite target output stops before it). */
  readonly ran: boolean;
  readonly loss: number;
  readonly terms: Readonly<Record<string, number>>;
  readonly gradNorm: number;
  readonly phases: { readonly upload_ms: number; readonly target_ms: number; readonly targets_ms: number; readonly step_ms: number; readonly update_ms: number };
}

/**
 * One training step on a batch: target forward → targets → train step → adopt the `next.*` outputs
 * when `finite` says so. The graphs are functional, so skipping a step is keeping the tensors fed.
 */
export class StepRunner {
  private readonly hostTargets = new HostTargets();

  private constructor(
    private readonly cfg: MultiSiamConfig,
    private readonly prepared: PreparedRun,
    private readonly store: TensorStore,
    private readonly cursors: readonly { cursor: QueueCursor; input: string; keys: number }[],
    private readonly trainStep: Session,
    private readonly targetForward: Session,
    private readonly residency: Residency,
  ) {}

  /** The target-forward outputs a step uses (the others, e.g. the raw maps behind in-graph K-means, are not fetched). */
  private get targetOutputs(): string[] {
    return [...new Set(this.prepared.bundle.manifest.targets.map((l) => l.output))];
  }

  static async create(run: PreparedRun, store: TensorStore, pointers: Readonly<Record<string, number>>, ep: ExecutionProvider, residency: Residency): Promise<StepRunner> {
    const { manifest } = run.bundle;
    const copied = new Set(manifest.targets.filter(onDevice).map((l) => l.output));
    const rt = run.config.runtime;
    const cuda = { deviceId: rt.cuda_device, tf32: rt.cuda_tf32, cudnnConvAlgoSearch: rt.cudnn_algo_search };
    const session = (key: GraphKey, resident: readonly string[]) =>
      Session.create(join(run.bundle.dir, GRAPH_FILES[key]), { ep, cuda, ...(residency === 'device' ? { residentOutputs: resident } : {}) }, key);
    const stepOutputs = manifest.graphs.train_step.outputs.map((o) => o.name);
    const trainStep = await session('train_step', stepOutputs.filter((o) => o.startsWith(NEXT_PREFIX)));
    const targetForward = await session('target_forward', manifest.graphs.target_forward.outputs.map((o) => o.name).filter((o) => copied.has(o)));
    const cursors = manifest.graphs.train_step.inputs
      .filter((i) => i.meaning?.kind === 'queue_rows')
      .map((i) => {
        const queue = String(i.meaning!.queue);
        const length = manifest.tensors.find((t) => t.name === queue)!.shape[0]!;
        return { cursor: new QueueCursor(queue, length, pointers[queue] ?? 0), input: i.name, keys: i.shape[0]! };
      });
    return new StepRunner(run.config, run, store, cursors, trainStep, targetForward, residency);
  }

  /** Each queue's pointer, for the checkpoint's loop state. */
  queuePointers(): Record<string, number> {
    return Object.fromEntries(this.cursors.map((c) => [c.cursor.queue, c.cursor.pointer]));
  }

  async run(batch: PairBatch, step: number, lr: number, tau: number): Promise<StepResult> {
    const { cfg } = this;
    const manifest = this.prepared.bundle.manifest;
    const tUpload = performance.now();
    const staged = await this.stage(batchFeeds(batch));
    const data = Object.fromEntries(staged.map(([name, feed]) => [name, feed]));
    const t0 = performance.now();
    // One K-means stream per step, read link by link in manifest order by the host or the graph K-means alike.
    const rng = Rng.fromSeed(cfg.train.seed).fork(step, 0x6b6d);
    const uniforms: Record<string, TensorData> = {};
    for (const link of manifest.targets) {
      const name = NAMES.kmeansUniforms(link.input);
      if (this.targetForward.inputNames.includes(name)) uniforms[name] = Float32Array.from({ length: shapeSize(this.targetForward.input(name).shape) }, () => rng.next());
    }
    let target: RunResult | null = null;
    let out: RunResult | null = null;
    const kept: Resident[] = [];
    try {
      target = await this.targetForward.execute(this.feeds(this.targetForward, data, uniforms), { fetches: this.targetOutputs });
      const t1 = performance.now();
      const upload_ms = t0 - tUpload;
      const skipped = (problem: string): StepResult => ({ problem, ran: false, loss: NaN, terms: {}, gradNorm: NaN, phases: { upload_ms, target_ms: t1 - t0, targets_ms: 0, step_ms: 0, update_ms: 0 } });
      const targets: Record<string, Feed> = {};
      for (const link of manifest.targets) {
        if (onDevice(link)) {
          const r = target.keep(link.output);
          kept.push(r);
          targets[link.input] = r;
        } else {
          const maps = (await target.read(link.output)) as Float32Array;
          if (!allFinite(maps)) return skipped('target network output');
          targets[link.input] = this.hostTargets.compute(link, maps, target.dims(link.output), rng);
        }
      }
      const t2 = performance.now();
      const hyper: Record<string, TensorData> = {
        [NAMES.lr]: Float32Array.of(lr),
        [NAMES.weightDecay]: Float32Array.of(cfg.optim.weight_decay),
        [NAMES.targetMomentum]: Float32Array.of(tau),
      };
      for (const c of this.cursors) hyper[c.input] = c.cursor.rows(c.keys);
      out = await this.trainStep.execute(this.feeds(this.trainStep, data, { ...targets, ...hyper }));
      const t3 = performance.now();
      const loss = await out.scalar(NAMES.loss);
      const gradNorm = await out.scalar(NAMES.gradNorm);
      const terms = Object.fromEntries(await Promise.all(manifest.loss_terms.map(async (t) => [t, await out!.scalar(NAMES.lossTerm(t))] as const)));
      const finite = (await out.scalar(NAMES.finite)) === 1;
      const problem = finite ? null : !Number.isFinite(loss) ? 'loss' : !Number.isFinite(gradNorm) ? 'gradient norm' : 'update';
      if (!problem) {
        await this.adopt(out);
        for (const c of this.cursors) c.cursor.advance(c.keys);
      }
      const phases = { upload_ms, target_ms: t1 - t0, targets_ms: t2 - t1, step_ms: t3 - t2, update_ms: performance.now() - t3 };
      return { problem, ran: true, loss, terms, gradNorm, phases };
    } finally {
      out?.dispose();
      target?.dispose();
      for (const r of kept) r.dispose();
      for (const [, feed] of staged) if (feed instanceof Resident) feed.dispose();
    }
  }

  /**
   * The batch's tensors that the graphs read, uploaded once (both graphs read the views): device
   * Residents with `residency: 'device'`, the host arrays as they are otherwise.
   */
  private async stage(batch: Readonly<Record<string, TensorData>>): Promise<[string, Feed][]> {
    const used = new Set([...this.trainStep.inputNames, ...this.targetForward.inputNames]);
    const names = Object.keys(batch).filter((n) => used.has(n));
    if (this.residency !== 'device') return names.map((n) => [n, batch[n]!]);
    // One after another: ONNX Runtime's WebGPU device is not safe to use from two runs at once.
    const staged: [string, Feed][] = [];
    for (const n of names) {
      const spec = this.trainStep.inputNames.includes(n) ? this.trainStep.input(n) : this.targetForward.input(n);
      staged.push([n, await this.trainStep.upload(batch[n]!, spec.shape, spec.dtype)]);
    }
    return staged;
  }

  /** Takes every `next.<name>` output as the new value of state `<name>`. */
  private async adopt(out: RunResult): Promise<void> {
    if (this.residency === 'device') {
      this.store.advance(out, NEXT_PREFIX);
      return;
    }
    for (const name of out.names.filter((n) => n.startsWith(NEXT_PREFIX))) this.store.set(name.slice(NEXT_PREFIX.length), await out.read(name));
  }

  /** Exactly the feeds a session declares: data from the batch, state from the store, the rest from `extra`. */
  private feeds(session: Session, data: Readonly<Record<string, Feed>>, extra: Readonly<Record<string, Feed>>): Record<string, Feed> {
    const feeds: Record<string, Feed> = {};
    for (const name of session.inputNames) {
      const v = extra[name] ?? data[name] ?? (this.store.has(name) ? this.store.get(name) : undefined);
      if (v === undefined) throw new Error(`internal: nothing to feed graph input '${name}' of ${session.modelName}`);
      feeds[name] = v;
    }
    return feeds;
  }

  async release(): Promise<void> {
    await this.trainStep.release();
    await this.targetForward.release();
  }
}

function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

