/**
 * The training loop (SPEC §2, §5, §6) over a prepared run (run.ts). Each step:
 *   batch (prefetched by workers) → target forward → targets (copied on the device, or K-means on
 *   the host) → train step (forward, backward, optimizer, target-network update, queue updates and a
 *   finiteness check in one graph) → adopt the `next.*` outputs, or keep the old state if `finite` is 0,
 * with the learning rate and target momentum from their schedules, metrics per logged step, atomic
 * checkpoints, and a clean stop on Ctrl-C. The state stays where the step left it (device memory
 * with `residency: 'device'`); only the batch, a few scalars and the metrics cross each step (plus the
 * maps host K-means needs). Batch k, the K-means seeds of step k and every update are functions of
 * (seed, k, state), so a run resumed from a checkpoint follows the same trajectory.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type GraphKey, GRAPH_FILES } from '../bundle/bundle.js';
import { peakLearningRate } from '../config/derived.js';
import type { MultiSiamConfig } from '../config/schema.js';
import { type PairBatch, iouPassRate } from '../data/batch.js';
import { PairLoader } from '../data/loader.js';
import { Rng } from '../data/rng.js';
import { type Logger, consoleLogger } from '../data/sources.js';
import { NAMES, NEXT_PREFIX } from '../graphs/io.js';
import { configHash, methodFor } from '../methods/index.js';
import type { TensorData } from '../onnx/dtype.js';
import type { ExecutionProvider } from '../runtime/providers.js';
import { type Resident, type RunResult, TensorStore } from '../runtime/residency.js';
import { type Feed, Session } from '../runtime/session.js';
import { type JsonObject, saveCheckpoint } from './checkpoint.js';
import { batchFeeds, pairOptionsFor } from './data.js';
import { type MetricRecord, MetricsLog, StatusLine, type StatusStream, metricsPath, writeLossPlot } from './metrics.js';
import { QueueCursor } from './queue.js';
import type { PreparedRun } from './run.js';
import { type LrSchedule, type MomentumSchedule, learningRate, momentumAt } from './schedules.js';
import { stateFromTensors, stateToTensors } from './state.js';
import { HostTargets } from './targets.js';
import { readBundleTensors } from '../bundle/bundle.js';

/** Where the state lives between steps: in the provider's memory (no copies), or copied to the host every step. */
export type Residency = 'device' | 'host';

export interface TrainOptions {
  readonly ep?: ExecutionProvider;
  readonly residency?: Residency;
  readonly status?: StatusStream;
  readonly logger?: Logger;
}

export interface TrainSummary {
  readonly runDir: string;
  readonly firstStep: number;
  readonly lastStep: number;
  readonly totalSteps: number;
  readonly interrupted: boolean;
  readonly checkpoint: string | null;
  readonly skippedSteps: number;
}

/** Consecutive non-finite steps tolerated (each skipped, with the learning rate halved) before stopping. */
const MAX_NONFINITE = 5;

export async function train(run: PreparedRun, options: TrainOptions = {}): Promise<TrainSummary> {
  const { config: cfg, bundle, schedule } = run;
  const runDir = run.dir;
  const logger = options.logger ?? consoleLogger;
  const method = methodFor(cfg);
  const totalSteps = schedule.totalSteps;
  const lrSchedule: LrSchedule = { peakLr: peakLearningRate(cfg), totalSteps, warmupSteps: Math.min(schedule.warmupSteps, totalSteps), finalLr: cfg.optim.final_lr };
  const spec = method.momentum(cfg);
  const momentum: MomentumSchedule = spec.kind === 'constant' ? spec : { kind: 'cosine', base: spec.base, totalSteps };

  const checkpoint = run.checkpoint;
  const startStep = checkpoint ? checkpoint.step : 0;
  let lrScale = checkpoint ? Number(checkpoint.state.lr_scale ?? 1) : 1;
  if (startStep >= totalSteps) throw new Error(`run ${runDir} already finished its ${totalSteps} steps (latest checkpoint at step ${startStep}); pass a larger --steps to continue it`);

  const store = stateFromTensors(checkpoint ? checkpoint.tensors : readBundleTensors(bundle), bundle.manifest, checkpoint ? checkpoint.dir : bundle.dir);
  const pointers = (checkpoint?.state.queue_pointers ?? {}) as Record<string, number>;
  const residency = options.residency ?? 'device';
  const runner = await StepRunner.create(run, store, pointers, options.ep ?? 'cpu', residency);
  const loader = new PairLoader({ data: run.data, pair: pairOptionsFor(cfg), batchSize: cfg.train.batch_size, seed: cfg.train.seed, startStep, workers: cfg.data.workers, prefetch: cfg.data.prefetch, logger });
  const metrics = MetricsLog.open(runDir, checkpoint ? startStep : undefined);
  const status = new StatusLine(options.status ?? process.stderr);

  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    logger.warn('interrupted: finishing this step and writing a checkpoint (Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const save = async (step: number): Promise<string> => {
    const state: JsonObject = { config_hash: configHash(cfg), total_steps: totalSteps, lr_scale: lrScale, skipped: loader.skipped, queue_pointers: runner.queuePointers() };
    return saveCheckpoint(runDir, step, await stateToTensors(store, bundle.manifest), state, { keep: cfg.train.keep_checkpoints });
  };

  let step = startStep;
  let lastCheckpoint: string | null = null;
  let nonFinite = 0;
  let skippedSteps = 0;
  const window = { t: performance.now(), pairs: 0, wait: 0 };
  try {
    while (step < totalSteps && !interrupted) {
      const { batch, waitMs } = await loader.next();
      const lr = learningRate(lrSchedule, step) * lrScale;
      const tau = momentumAt(momentum, step);
      const result = await runner.run(batch, step, lr, tau);
      if (result.problem) {
        nonFinite++;
        skippedSteps++;
        lrScale /= 2;
        const values = result.ran ? ` (loss ${result.loss}, grad_norm ${result.gradNorm})` : '';
        logger.warn(`step ${step}: non-finite ${result.problem}${values}; step skipped, learning rate halved (now ×${lrScale})`);
        if (nonFinite >= MAX_NONFINITE) {
          throw new Error(`step ${step}: ${MAX_NONFINITE} consecutive non-finite steps; stopping. The last checkpoint is intact; lower optim.base_lr (now ${cfg.optim.base_lr}) and resume or restart.`);
        }
      } else {
        nonFinite = 0;
      }
      step++;
      window.pairs += batch.size;
      window.wait += waitMs;

      if (step % cfg.train.log_every === 0 || step === totalSteps) {
        const elapsed = performance.now() - window.t;
        const record: MetricRecord = {
          step,
          epoch: schedule.stepsPerEpoch ? Math.floor((step - 1) / schedule.stepsPerEpoch) : 0,
          loss: result.loss,
          ...Object.fromEntries(Object.entries(result.terms).map(([k, v]) => [NAMES.lossTerm(k), v])),
          lr,
          momentum: tau,
          pairs_per_s: (1000 * window.pairs) / elapsed,
          data_wait: window.wait / elapsed,
          iou_pass_rate: iouPassRate(batch),
          grad_norm: result.gradNorm,
          ...result.phases,
        };
        metrics.append(record);
        window.t = performance.now();
        window.pairs = 0;
        window.wait = 0;
        status.update({ step, totalSteps, loss: result.loss, terms: result.terms, lr, momentum: tau, pairsPerSec: record.pairs_per_s as number, dataWait: record.data_wait as number });
      }
      if (step % cfg.train.checkpoint_every === 0 && step < totalSteps) lastCheckpoint = await save(step);
    }
    if (step > startStep) lastCheckpoint = await save(step);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    status.finish();
    metrics.close();
    await loader.close();
    await runner.release();
    store.dispose();
  }
  if (existsSync(metricsPath(runDir))) writeLossPlot(metricsPath(runDir), join(runDir, 'loss.svg'), `${bundle.manifest.method} (${describe(cfg)})`);
  if (loader.skipped > 0) logger.warn(`${loader.skipped} unreadable image(s) were skipped and replaced (each named above)`);
  return { runDir, firstStep: startStep, lastStep: step, totalSteps, interrupted, checkpoint: lastCheckpoint, skippedSteps };
}

/** What one step produced: loss terms, or the reason it was skipped; and where its time went (ms). */
export interface StepResult {
  readonly problem: string | null;
  /** Whether the train step ran (a non-finite target output stops before it). */
  readonly ran: boolean;
  readonly loss: number;
  readonly terms: Readonly<Record<string, number>>;
  readonly gradNorm: number;
  readonly phases: { readonly target_ms: number; readonly targets_ms: number; readonly step_ms: number; readonly update_ms: number };
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

  static async create(run: PreparedRun, store: TensorStore, pointers: Readonly<Record<string, number>>, ep: ExecutionProvider, residency: Residency): Promise<StepRunner> {
    const { manifest } = run.bundle;
    const copied = new Set(manifest.targets.filter((l) => l.transform.kind === 'copy').map((l) => l.output));
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
    const data = batchFeeds(batch);
    const t0 = performance.now();
    const target = await this.targetForward.execute(this.feeds(this.targetForward, data, {}));
    const t1 = performance.now();
    const skipped = (problem: string, phases: StepResult['phases']): StepResult => ({ problem, ran: false, loss: NaN, terms: {}, gradNorm: NaN, phases });
    const targets: Record<string, Feed> = {};
    const kept: Resident[] = [];
    let out: RunResult | null = null;
    try {
      const rng = Rng.fromSeed(cfg.train.seed).fork(step, 0x6b6d);
      for (const link of manifest.targets) {
        if (link.transform.kind === 'copy') {
          const r = target.keep(link.output);
          kept.push(r);
          targets[link.input] = r;
        } else {
          const maps = (await target.read(link.output)) as Float32Array;
          if (!allFinite(maps)) return skipped('target network output', { target_ms: t1 - t0, targets_ms: 0, step_ms: 0, update_ms: 0 });
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
      const phases = { target_ms: t1 - t0, targets_ms: t2 - t1, step_ms: t3 - t2, update_ms: performance.now() - t3 };
      return { problem, ran: true, loss, terms, gradNorm, phases };
    } finally {
      out?.dispose();
      for (const r of kept) r.dispose();
      target.dispose();
    }
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
  private feeds(session: Session, data: Readonly<Record<string, TensorData>>, extra: Readonly<Record<string, Feed>>): Record<string, Feed> {
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

function describe(cfg: MultiSiamConfig): string {
  return `${cfg.backbone.arch} ×${cfg.backbone.width}, ${cfg.data.image_size}px, batch ${cfg.train.batch_size}`;
}
