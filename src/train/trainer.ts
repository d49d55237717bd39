/**
 * The training loop (SPEC §2, §5, §6) over a prepared run (run.ts). Each step:
 *   batch (prefetched by workers) → target forward → targets (copied on the device, or K-means on
 *   the host) → train step (forward, backward, optimizer, target-network update, queue updates and a
 *   finiteness check in one graph) → adopt the `next.*` outputs, or keep the old state if `finite` is 0,
 * with the learning rate and target momentum from their schedules, metrics per logged step, the
 * status line after every step (drawn at most every 100 ms on a terminal), atomic checkpoints every
 * train.checkpoint_every steps and every train.checkpoint_minutes of wall time, and a clean stop —
 * finish the step, write a checkpoint — on Ctrl-C, SIGTERM, SIGHUP or a closed output (stops.ts).
 * A crash (SIGKILL, power loss) loses at most the work since the last checkpoint. The state stays where the step left it (device memory
 * with `residency: 'device'`); only the batch, a few scalars and the metrics cross each step (plus the
 * maps host K-means needs). Batch k, the K-means seeds of step k and every update are functions of
 * (seed, k, state), so a run resumed from a checkpoint follows the same trajectory.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readBundleTensors } from '../bundle/bundle.js';
import { peakLearningRate } from '../config/derived.js';
import type { MultiSiamConfig } from '../config/schema.js';
import { iouPassRate } from '../data/batch.js';
import { PairLoader } from '../data/loader.js';
import { type Logger, consoleLogger } from '../data/sources.js';
import { NAMES } from '../graphs/io.js';
import { configHash, methodFor } from '../methods/index.js';
import type { TensorStore } from '../runtime/residency.js';
import type { ExecutionProvider } from '../runtime/providers.js';
import { type Json, type JsonObject, latestCheckpoint, saveCheckpoint } from './checkpoint.js';
import { pairOptionsFor } from './data.js';
import { type MetricRecord, MetricsLog, StatusLine, type StatusStream, metricsPath, writeLossPlot } from './metrics.js';
import type { PreparedRun } from './run.js';
import { RUN_PLOT } from './rundir.js';
import { type LrSchedule, type MomentumSchedule, learningRate, momentumAt } from './schedules.js';
import { stateFromTensors, stateToTensors } from './state.js';
import { type Residency, StepRunner } from './step.js';
import { watchStops } from './stops.js';

export type { Residency } from './step.js';

export interface TrainOptions {
  /** Overrides the provider prepareRun probed (a test running prepared runs on several providers). */
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
  /** Why the run stopped early (a signal, a closed output), or null when it ran to its end. */
  readonly stoppedBy: string | null;
  /** The checkpoint this process wrote last, or null. */
  readonly checkpoint: string | null;
  readonly skippedSteps: number;
}

/** Consecutive non-finite steps tolerated (each skipped, with the learning rate halved) before stopping. */
const MAX_NONFINITE = 5;

export async function train(run: PreparedRun, options: TrainOptions = {}): Promise<TrainSummary> {
  const { config: cfg, bundle, schedule, checkpoint } = run;
  const runDir = run.dir;
  const logger = options.logger ?? consoleLogger;
  const totalSteps = schedule.totalSteps;
  // Functions of (step, total): a run extended to a new total follows that total's schedules from its step on (run.ts).
  const lrSchedule: LrSchedule = { peakLr: peakLearningRate(cfg), totalSteps, warmupSteps: schedule.warmupSteps, finalLr: cfg.optim.final_lr };
  const spec = methodFor(cfg).momentum(cfg);
  const momentum: MomentumSchedule = spec.kind === 'constant' ? spec : { kind: 'cosine', base: spec.base, totalSteps };
  const startStep = checkpoint ? checkpoint.step : 0;
  let lrScale = run.lrScale;

  const status = new StatusLine(options.status ?? process.stderr);
  const stops = watchStops((why) => logger.warn(`interrupted by ${why}: finishing this step and writing a checkpoint (a second signal quits at once)`));
  // Created one after another inside the try, so whichever exist are released however the run ends.
  let store: TensorStore | null = null;
  let runner: StepRunner | null = null;
  let loader: PairLoader | null = null;
  let metrics: MetricsLog | null = null;
  let step = startStep;
  let lastCheckpoint: string | null = null;
  let skippedSteps = 0;
  try {
    store = stateFromTensors(checkpoint ? checkpoint.tensors : readBundleTensors(bundle), bundle.manifest, checkpoint ? checkpoint.dir : bundle.dir);
    const pointers = (checkpoint?.state.queue_pointers ?? {}) as Record<string, number>;
    runner = await StepRunner.create(run, store, pointers, options.ep ?? run.ep, options.residency ?? 'device');
    loader = new PairLoader({ data: run.data, pair: pairOptionsFor(cfg), batchSize: cfg.train.batch_size, seed: cfg.train.seed, startStep, workers: cfg.data.workers, prefetch: cfg.data.prefetch, logger });
    metrics = MetricsLog.open(runDir, checkpoint ? startStep : undefined);
    const [liveRunner, liveLoader] = [runner, loader];
    const save = async (at: number): Promise<string> => {
      const state: JsonObject = {
        config_hash: configHash(cfg),
        config: cfg as unknown as Json,
        total_steps: totalSteps,
        lr_scale: lrScale,
        skipped: liveLoader.skipped,
        queue_pointers: liveRunner.queuePointers(),
        changes: run.changes as unknown as Json,
      };
      return saveCheckpoint(runDir, at, await stateToTensors(liveRunner.state, bundle.manifest), state, { keep: cfg.train.keep_checkpoints });
    };

    let nonFinite = 0;
    let lastSave = performance.now();
    const window = { t: performance.now(), pairs: 0, wait: 0 };
    while (step < totalSteps && stops.reason === null) {
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
        if (nonFinite >= MAX_NONFINITE) throw new Error(nonFiniteStop(step, runDir, cfg));
      } else {
        nonFinite = 0;
      }
      step++;
      window.pairs += batch.size;
      window.wait += waitMs;
      const elapsed = performance.now() - window.t;
      const fields = { step, epoch: Math.floor((step - 1) / run.stepsPerEpoch), loss: result.loss, lr, momentum: tau, pairsPerSec: (1000 * window.pairs) / elapsed, dataWait: window.wait / elapsed };

      if (step % cfg.train.log_every === 0 || step === totalSteps) {
        const record: MetricRecord = {
          step,
          epoch: fields.epoch,
          loss: result.loss,
          ...Object.fromEntries(Object.entries(result.terms).map(([k, v]) => [NAMES.lossTerm(k), v])),
          lr,
          momentum: tau,
          pairs_per_s: fields.pairsPerSec,
          data_wait: fields.dataWait,
          iou_pass_rate: iouPassRate(batch),
          grad_norm: result.gradNorm,
          ...result.phases,
        };
        metrics.append(record);
        window.t = performance.now();
        window.pairs = 0;
        window.wait = 0;
      }
      status.update({ ...fields, totalSteps, terms: result.terms });
      const every = cfg.train.checkpoint_every;
      const minutes = cfg.train.checkpoint_minutes;
      const due = (every > 0 && step % every === 0) || (minutes > 0 && performance.now() - lastSave >= minutes * 60_000);
      if (due && step < totalSteps) {
        lastCheckpoint = await save(step);
        lastSave = performance.now();
      }
    }
    if (step > startStep) lastCheckpoint = await save(step);
  } finally {
    stops.close();
    status.finish();
    metrics?.close();
    await loader?.close();
    // Device tensors before the sessions: on WebGPU they belong to the device context the sessions hold.
    store?.dispose();
    await runner?.release();
    run.lock.release();
  }
  if (existsSync(metricsPath(runDir))) writeLossPlot(metricsPath(runDir), join(runDir, RUN_PLOT), `${bundle.manifest.method} (${describe(cfg)})`);
  if (loader.skipped > 0) logger.warn(`${loader.skipped} unreadable image(s) were skipped and replaced (each named above)`);
  return { runDir, firstStep: startStep, lastStep: step, totalSteps, stoppedBy: stops.reason, checkpoint: lastCheckpoint, skippedSteps };
}

/** The message of a run stopped by non-finite steps: what is intact, and how to go on with a lower learning rate. */
function nonFiniteStop(step: number, runDir: string, cfg: MultiSiamConfig): string {
  const latest = latestCheckpoint(runDir);
  const lower = `optim.base_lr=${+(cfg.optim.base_lr / 10).toPrecision(3)}`;
  const head = `step ${step}: ${MAX_NONFINITE} consecutive non-finite steps; stopping without writing a checkpoint.`;
  return latest
    ? `${head} The latest checkpoint (${latest}) is intact: continue from it with a lower learning rate, e.g. the same command with --resume --set ${lower} (now ${cfg.optim.base_lr}); --resume accepts a changed optim.base_lr and records the change`
    : `${head} No checkpoint was written yet: run the same command with a lower learning rate, e.g. --set ${lower} (now ${cfg.optim.base_lr}); it starts again from step 0`;
}

function describe(cfg: MultiSiamConfig): string {
  return `${cfg.backbone.arch} ×${cfg.backbone.width}, ${cfg.data.image_size}px, batch ${cfg.train.batch_size}`;
}
