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
import type { TensorStore } from '../runtime/residency.js';
import { type Feed, Session } from '../runtime/session.js';
import type { Manifest } from '../bundle/bundle.js';
import { type Placement, type PlacementName, createPlacement, placementSessionOptions } from './placement.js';
import { batchFeeds } from './data.js';
import type { TargetLink } from '../methods/method.js';
import { shapeSize } from '../onnx/dtype.js';
import { QueueCursor } from './queue.js';
import type { PreparedRun } from './run.js';
import { HostTargets } from './targets.js';

/** Where the state lives between steps and how tensors move (placement.ts). */
export type Residency = PlacementName;

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
 * Where tensors live and how they move is the placement's business (placement.ts).
 */
export class StepRunner {
  private readonly hostTargets = new HostTargets();

  private constructor(
    private readonly cfg: MultiSiamConfig,
    private readonly manifest: Manifest,
    private readonly placement: Placement,
    private readonly cursors: readonly { cursor: QueueCursor; input: string; keys: number }[],
    private readonly trainStep: Session,
    private readonly targetForward: Session,
  ) {}

  /**
   * Sessions on `ep` for the run's bundle and the placement (`device`, or `captured` for CUDA graphs
   * when runtime.cuda_graph is set); the runner owns `store` from here on.
   */
  static async create(run: PreparedRun, store: TensorStore, pointers: Readonly<Record<string, number>>, ep: ExecutionProvider, residency: Residency): Promise<StepRunner> {
    const { manifest } = run.bundle;
    const rt = run.config.runtime;
    const placement: PlacementName = residency === 'device' && rt.cuda_graph ? 'captured' : residency;
    const cuda = { deviceId: rt.cuda_device, tf32: rt.cuda_tf32, cudnnConvAlgoSearch: rt.cudnn_algo_search, cudaGraph: placement === 'captured' };
    const devices = new Set(manifest.targets.filter(onDevice).map((l) => l.output));
    const session = (key: GraphKey, resident: readonly string[]) =>
      Session.create(join(run.bundle.dir, GRAPH_FILES[key]), { ep, cuda, ...placementSessionOptions(placement, resident) }, key);
    const trainStep = await session('train_step', manifest.graphs.train_step.outputs.map((o) => o.name).filter((o) => o.startsWith(NEXT_PREFIX)));
    const targetForward = await session('target_forward', manifest.graphs.target_forward.outputs.map((o) => o.name).filter((o) => devices.has(o)));
    const cursors = manifest.graphs.train_step.inputs
      .filter((i) => i.meaning?.kind === 'queue_rows')
      .map((i) => {
        const queue = String(i.meaning!.queue);
        const length = manifest.tensors.find((t) => t.name === queue)!.shape[0]!;
        return { cursor: new QueueCursor(queue, length, pointers[queue] ?? 0), input: i.name, keys: i.shape[0]! };
      });
    return new StepRunner(run.config, manifest, await createPlacement(placement, store, trainStep, targetForward, manifest), cursors, trainStep, targetForward);
  }

  /** The state as it stands (a checkpoint reads it). */
  get state(): TensorStore {
    return this.placement.state;
  }

  /** Each queue's pointer, for the checkpoint's loop state. */
  queuePointers(): Record<string, number> {
    return Object.fromEntries(this.cursors.map((c) => [c.cursor.queue, c.cursor.pointer]));
  }

  /** The target-forward outputs a step uses (the others, e.g. the raw maps behind in-graph K-means, are not fetched). */
  private get targetOutputs(): string[] {
    return [...new Set(this.manifest.targets.map((l) => l.output))];
  }

  async run(batch: PairBatch, step: number, lr: number, tau: number): Promise<StepResult> {
    const { cfg, manifest, placement } = this;
    const tUpload = performance.now();
    // One K-means stream per step, read link by link in manifest order by the host or the graph K-means alike.
    const rng = Rng.fromSeed(cfg.train.seed).fork(step, 0x6b6d);
    const host: Record<string, TensorData> = {
      [NAMES.lr]: Float32Array.of(lr),
      [NAMES.weightDecay]: Float32Array.of(cfg.optim.weight_decay),
      [NAMES.targetMomentum]: Float32Array.of(tau),
    };
    for (const link of manifest.targets) {
      const name = NAMES.kmeansUniforms(link.input);
      if (this.targetForward.inputNames.includes(name)) host[name] = Float32Array.from({ length: shapeSize(this.targetForward.input(name).shape) }, () => rng.next());
    }
    for (const c of this.cursors) host[c.input] = c.cursor.rows(c.keys);
    const used = new Set([...this.trainStep.inputNames, ...this.targetForward.inputNames]);
    for (const [name, data] of Object.entries(batchFeeds(batch))) if (used.has(name)) host[name] = data;
    try {
      const fed = await placement.stage(host);
      const t0 = performance.now();
      const upload_ms = t0 - tUpload;
      const target = await placement.runTarget(this.targetForward, this.feeds(this.targetForward, fed), this.targetOutputs);
      const t1 = performance.now();
      const targets: Record<string, Feed> = {};
      for (const link of manifest.targets) {
        if (onDevice(link)) {
          targets[link.input] = target.feed(link.output);
          continue;
        }
        const maps = await target.read(link.output);
        if (!allFinite(maps)) return { problem: 'target network output', ran: false, loss: NaN, terms: {}, gradNorm: NaN, phases: { upload_ms, target_ms: t1 - t0, targets_ms: 0, step_ms: 0, update_ms: 0 } };
        const dims = target.dims(link.output);
        targets[link.input] = await placement.hostTarget(link.input, this.hostTargets.compute(link, maps, dims, rng), dims);
      }
      const t2 = performance.now();
      const out = await placement.runStep(this.trainStep, this.feeds(this.trainStep, { ...fed, ...targets }));
      const t3 = performance.now();
      const names = [NAMES.loss, NAMES.gradNorm, NAMES.finite, ...manifest.loss_terms.map((t) => NAMES.lossTerm(t))];
      const m = await out.metrics(names);
      const [loss, gradNorm] = [m[NAMES.loss]!, m[NAMES.gradNorm]!];
      const terms = Object.fromEntries(manifest.loss_terms.map((t) => [t, m[NAMES.lossTerm(t)]!]));
      const problem = m[NAMES.finite] === 1 ? null : !Number.isFinite(loss) ? 'loss' : !Number.isFinite(gradNorm) ? 'gradient norm' : 'update';
      if (!problem) {
        await out.adopt();
        for (const c of this.cursors) c.cursor.advance(c.keys);
      }
      const phases = { upload_ms, target_ms: t1 - t0, targets_ms: t2 - t1, step_ms: t3 - t2, update_ms: performance.now() - t3 };
      return { problem, ran: true, loss, terms, gradNorm, phases };
    } finally {
      placement.endStep();
    }
  }

  /** Exactly the feeds a session declares: this step's host data and targets, or the state. */
  private feeds(session: Session, step: Readonly<Record<string, Feed>>): Record<string, Feed> {
    const feeds: Record<string, Feed> = {};
    const state = this.placement.state;
    for (const name of session.inputNames) {
      const v = step[name] ?? (state.has(name) ? state.get(name) : undefined);
      if (v === undefined) throw new Error(`internal: nothing to feed graph input '${name}' of ${session.modelName}`);
      feeds[name] = v;
    }
    return feeds;
  }

  /** Releases the state (device tensors first: they belong to the sessions' device), then the sessions. */
  async release(): Promise<void> {
    this.placement.release();
    await this.trainStep.release();
    await this.targetForward.release();
  }
}

function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

