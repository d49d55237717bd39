/**
 * The training loop (SPEC §2, §5, §6). Each step:
 *   batch (prefetched by workers) → target forward → dense targets (K-means) → train step
 *   (forward, backward and optimizer update in one graph) → EMA of the target → MoCo queues,
 * with the learning rate and EMA momentum from their schedules, metrics per logged step, atomic
 * checkpoints, and a clean stop on Ctrl-C. Batch k, the K-means seeds of step k and every update
 * are functions of (seed, k, state), so a run resumed from a checkpoint follows the same trajectory.
 */
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type MultiSiamConfig, configHash, denseGridSize, scheduleSteps } from '../config/index.js';
import { PairLoader } from '../data/loader.js';
import { Rng } from '../data/rng.js';
import { type Logger, consoleLogger, openSource, parseDataArg } from '../data/sources.js';
import { LR_INPUT, WEIGHT_DECAY_INPUT } from '../graphs/optimizers.js';
import { NEXT_PREFIX } from '../onnx/ir.js';
import type { ExecutionProvider } from '../runtime/providers.js';
import { Session } from '../runtime/session.js';
import { type Bundle, GRAPH_FILES, readBundle, readBundleTensors, writeBundle } from './bundle.js';
import { type JsonObject, resumeCheckpoint, saveCheckpoint } from './checkpoint.js';
import { batchFeeds, pairOptionsFor } from './data.js';
import type { PairBatch } from '../data/batch.js';
import { type MetricRecord, MetricsLog, StatusLine, type StatusStream, metricsPath, writeLossPlot } from './metrics.js';
import { KeyQueue } from './queue.js';
import { type LrSchedule, type MomentumSchedule, learningRate, momentumAt } from './schedules.js';
import { type TrainingState, stateFromTensors, stateToTensors, updateTarget } from './state.js';
import { DenseTargets, pooledKeys } from './targets.js';

export interface TrainOptions {
  /** `synthetic[:N]` or an image folder. */
  readonly data: string;
  /** The run directory: bundle, checkpoints, metrics, plot. */
  readonly out: string;
  /** The configuration the run follows (for `bundle`, the bundle's with run-length overrides). */
  readonly config: MultiSiamConfig;
  /** A prebuilt bundle to train (copied into the run); built from `config` when absent. */
  readonly bundle?: string;
  readonly ep?: ExecutionProvider;
  readonly resume?: boolean;
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
const RUN_CONFIG = 'config.json';

export async function train(options: TrainOptions): Promise<TrainSummary> {
  const runDir = options.out;
  const logger = options.logger ?? consoleLogger;
  const cfg = options.config;
  // Everything that can fail on bad input (data, schedule, checkpoint) is checked before anything is written.
  const dataSpec = await parseDataArg(options.data);
  const images = openSource(dataSpec).count;
  const schedule = scheduleSteps(cfg, images);
  const checkpoint = options.resume ? resumeCheckpoint(runDir) : null;
  const bundle = prepareBundle(options, checkpoint !== null);
  const totalSteps = schedule.totalSteps;
  const lrSchedule: LrSchedule = { baseLr: cfg.optim.base_lr, batchSize: cfg.train.batch_size, totalSteps, warmupSteps: Math.min(schedule.warmupSteps, totalSteps), finalLr: cfg.optim.final_lr };
  const emaSchedule: MomentumSchedule = cfg.framework === 'moco' ? { kind: 'constant', value: cfg.moco.momentum } : { kind: 'cosine', base: cfg.ema.base_momentum, totalSteps };

  const state = stateFromTensors(checkpoint ? checkpoint.tensors : readBundleTensors(bundle), bundle.manifest, checkpoint ? checkpoint.dir : bundle.dir);
  initQueues(state, bundle, cfg);
  const startStep = checkpoint ? checkpoint.step : 0;
  let lrScale = checkpoint ? Number(checkpoint.state.lr_scale ?? 1) : 1;
  if (startStep >= totalSteps) throw new Error(`run ${runDir} already finished its ${totalSteps} steps (latest checkpoint at step ${startStep}); pass a larger --steps to continue it`);

  const session = (key: 'train_step' | 'target_forward') => Session.create(join(bundle.dir, GRAPH_FILES[key]), { ep: options.ep ?? 'cpu' }, key);
  const [trainStep, targetForward] = [await session('train_step'), await session('target_forward')];
  const loader = new PairLoader({ data: dataSpec, pair: pairOptionsFor(cfg), batchSize: cfg.train.batch_size, seed: cfg.train.seed, startStep, workers: cfg.data.workers, prefetch: cfg.data.prefetch, logger });
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

  const save = (step: number): string =>
    saveCheckpoint(runDir, step, stateToTensors(state, bundle.manifest), { config_hash: configHash(cfg), total_steps: totalSteps, lr_scale: lrScale, skipped: loader.skipped } as JsonObject, { keep: cfg.train.keep_checkpoints });

  const runner = new StepRunner(cfg, state, trainStep, targetForward);
  let step = startStep;
  let lastCheckpoint: string | null = null;
  let nonFinite = 0;
  let skippedSteps = 0;
  const window = { t: performance.now(), pairs: 0, wait: 0 };
  try {
    while (step < totalSteps && !interrupted) {
      const { batch, waitMs } = await loader.next();
      const lr = learningRate(lrSchedule, step) * lrScale;
      const tau = momentumAt(emaSchedule, step);
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
          loss_global: result.lossGlobal,
          loss_dense: result.lossDense,
          lr,
          momentum: tau,
          pairs_per_s: (1000 * window.pairs) / elapsed,
          data_wait: window.wait / elapsed,
          iou_pass_rate: mean(batch.denseWeight),
          grad_norm: result.gradNorm,
          ...result.phases,
        };
        metrics.append(record);
        window.t = performance.now();
        window.pairs = 0;
        window.wait = 0;
        status.update({ step, totalSteps, loss: result.loss, lossGlobal: result.lossGlobal, lossDense: result.lossDense, lr, momentum: tau, pairsPerSec: record.pairs_per_s as number, dataWait: record.data_wait as number });
      }
      if (step % cfg.train.checkpoint_every === 0 && step < totalSteps) lastCheckpoint = save(step);
    }
    if (step > startStep) lastCheckpoint = save(step);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    status.finish();
    metrics.close();
    await loader.close();
    await trainStep.release();
    await targetForward.release();
  }
  if (existsSync(metricsPath(runDir))) writeLossPlot(metricsPath(runDir), join(runDir, 'loss.svg'), `${bundle.manifest.method} (${describe(cfg)})`);
  if (loader.skipped > 0) logger.warn(`${loader.skipped} unreadable image(s) were skipped and replaced (each named above)`);
  return { runDir, firstStep: startStep, lastStep: step, totalSteps, interrupted, checkpoint: lastCheckpoint, skippedSteps };
}

/** What one step produced: loss terms, or the reason it was skipped; and where its time went (ms). */
interface StepResult {
  readonly problem: string | null;
  /** Whether the train step ran (a non-finite target output stops before it). */
  readonly ran: boolean;
  readonly loss: number;
  readonly lossGlobal: number;
  readonly lossDense: number;
  readonly gradNorm: number;
  readonly phases: { readonly target_ms: number; readonly targets_ms: number; readonly step_ms: number; readonly update_ms: number };
}

/**
 * One training step on a batch: target forward → dense targets → train step → (when every number
 * is finite) adopt the updates, EMA the target, enqueue MoCo keys. The step graph is functional, so
 * skipping a non-finite step is simply not adopting its outputs.
 */
class StepRunner {
  private readonly dense: DenseTargets | null;
  private readonly cells: number;

  constructor(
    private readonly cfg: MultiSiamConfig,
    private readonly state: TrainingState,
    private readonly trainStep: Session,
    private readonly targetForward: Session,
  ) {
    const grid = denseGridSize(cfg);
    this.cells = grid.h * grid.w;
    const hasDense = cfg.method === 'multisiam' || cfg.framework === 'moco';
    this.dense = hasDense ? new DenseTargets(cfg, cfg.heads.dense_proj_dim, this.cells) : null;
  }

  async run(batch: PairBatch, step: number, lr: number, tau: number): Promise<StepResult> {
    const { cfg, state } = this;
    const t0 = performance.now();
    const data = batchFeeds(batch);
    const target = await this.targetForward.run(pick(this.targetForward.inputNames, { ...data, ...Object.fromEntries(state.target) }));
    const t1 = performance.now();
    const skipped = (problem: string, phases: StepResult['phases']): StepResult => ({ problem, ran: false, loss: NaN, lossGlobal: NaN, lossDense: NaN, gradNorm: NaN, phases });
    if (Object.values(target).some((t) => !allFinite(t.data as Float32Array))) {
      return skipped('target network output', { target_ms: t1 - t0, targets_ms: 0, step_ms: 0, update_ms: 0 });
    }
    const targets: Record<string, Float32Array> = {};
    const rng = Rng.fromSeed(cfg.train.seed).fork(step, 0x6b6d);
    for (const v of [1, 2] as const) {
      targets[`target_z${v}`] = target[`z${v}`]!.data as Float32Array;
      const map = target[`dense${v}`]?.data as Float32Array | undefined;
      if (map && this.dense) targets[`target_dense${v}`] = this.dense.compute(map, batch.size, rng);
    }
    const t2 = performance.now();
    const out = await this.trainStep.run(
      pick(this.trainStep.inputNames, {
        ...data,
        ...targets,
        ...Object.fromEntries(state.online),
        ...Object.fromEntries(state.optimizer),
        ...Object.fromEntries([...state.queues].map(([name, q]) => [name, q.buffer])),
        [LR_INPUT]: Float32Array.of(lr),
        [WEIGHT_DECAY_INPUT]: Float32Array.of(cfg.optim.weight_decay),
      }),
    );
    const t3 = performance.now();
    const loss = scalar(out, 'loss');
    const gradNorm = scalar(out, 'grad_norm');
    const problem = !Number.isFinite(loss) ? 'loss' : !Number.isFinite(gradNorm) ? 'gradient norm' : nonFiniteUpdate(state, out);
    if (!problem) {
      adopt(state, out);
      updateTarget(state, tau);
      if (cfg.framework === 'moco') enqueueKeys(state, target, batch.size, cfg.heads.dense_proj_dim, this.cells);
    }
    const phases = { target_ms: t1 - t0, targets_ms: t2 - t1, step_ms: t3 - t2, update_ms: performance.now() - t3 };
    return { problem, ran: true, loss, lossGlobal: scalar(out, 'loss_global'), lossDense: scalar(out, 'loss_dense'), gradNorm, phases };
  }
}

/**
 * The run's bundle: RUN/bundle, built from the configuration (or copied from `--bundle`) for a new
 * run; on resume, the existing one. RUN/config.json records the configuration the run follows,
 * which a resumed run must repeat (operational fields such as workers may differ).
 */
function prepareBundle(options: TrainOptions, resuming: boolean): Bundle {
  const dir = join(options.out, 'bundle');
  const recorded = join(options.out, RUN_CONFIG);
  if (resuming) {
    const started = JSON.parse(readFileSync(recorded, 'utf8')) as MultiSiamConfig;
    if (configHash(options.config) !== configHash(started)) {
      throw new Error(`--resume: the configuration given now differs from the one run ${options.out} was started with (${recorded}); resume with the same options, or start a new run with another --out`);
    }
    return readBundle(dir);
  }
  if (existsSync(join(options.out, 'checkpoints'))) {
    throw new Error(`${options.out} already holds a run; pass --resume to continue it, or choose another --out`);
  }
  if (options.bundle) {
    readBundle(options.bundle);
    rmSync(dir, { recursive: true, force: true });
    cpSync(options.bundle, dir, { recursive: true });
  } else {
    writeBundle(options.config, dir);
  }
  writeFileSync(recorded, JSON.stringify(options.config, null, 2) + '\n');
  return readBundle(dir);
}

/** Random unit-vector queues for a new MoCo run (seeded), unless the state already has them. */
function initQueues(state: TrainingState, bundle: Bundle, cfg: MultiSiamConfig): void {
  bundle.manifest.graphs.train_step.inputs
    .filter((i) => i.role === 'queue' && !state.queues.has(i.name))
    .forEach((input, k) => state.queues.set(input.name, KeyQueue.random(input.shape[0]!, input.shape[1]!, Rng.fromSeed(cfg.train.seed).fork(0x7175, k))));
}

/** Takes `next.<name>` outputs as the new online parameters, buffers and optimizer state. */
function adopt(state: TrainingState, out: Record<string, { data: unknown }>): void {
  for (const part of [state.online, state.optimizer]) {
    for (const name of part.keys()) {
      const next = out[NEXT_PREFIX + name];
      if (next) part.set(name, next.data as Float32Array);
    }
  }
}

/** MoCo: both views' keys go into the shared queues, normalised by the queue: z' and the mean of G' over cells. */
function enqueueKeys(state: TrainingState, targetOut: Record<string, { data: unknown }>, batch: number, channels: number, cells: number): void {
  for (const v of [1, 2]) {
    state.queues.get('queue_global')?.enqueue(targetOut[`z${v}`]!.data as Float32Array);
    state.queues.get('queue_dense')?.enqueue(pooledKeys(targetOut[`dense${v}`]!.data as Float32Array, batch, channels, cells));
  }
}

/** The first updated tensor holding a non-finite value, as a message, or null. */
function nonFiniteUpdate(state: TrainingState, out: Record<string, { data: unknown }>): string | null {
  for (const part of [state.online, state.optimizer]) {
    for (const name of part.keys()) {
      const next = out[NEXT_PREFIX + name];
      if (next && !allFinite(next.data as Float32Array)) return `update of '${name}'`;
    }
  }
  return null;
}

function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

function scalar(out: Record<string, { data: unknown }>, name: string): number {
  const t = out[name];
  return t ? (t.data as Float32Array)[0]! : Number.NaN;
}

/** Exactly the feeds a session declares (the writer drops inputs a graph does not read). */
function pick(names: readonly string[], all: Readonly<Record<string, Float32Array>>): Record<string, Float32Array> {
  const feeds: Record<string, Float32Array> = {};
  for (const name of names) {
    const v = all[name];
    if (!v) throw new Error(`internal: no value for graph input '${name}'`);
    feeds[name] = v;
  }
  return feeds;
}

function mean(a: Float32Array): number {
  let s = 0;
  for (const v of a) s += v;
  return a.length ? s / a.length : 0;
}

function describe(cfg: MultiSiamConfig): string {
  return `${cfg.backbone.arch} ×${cfg.backbone.width}, ${cfg.data.image_size}px, batch ${cfg.train.batch_size}`;
}
