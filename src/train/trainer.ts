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
import { readBundleTensors } from '../bundle/bundle.js';
import { peakLearningRate } from '../config/derived.js';
import type { MultiSiamConfig } from '../config/schema.js';
import { iouPassRate } from '../data/batch.js';
import { PairLoader } from '../data/loader.js';
import { type Logger, consoleLogger } from '../data/sources.js';
import { NAMES } from '../graphs/io.js';
import { configHash, methodFor } from '../methods/index.js';
import type { ExecutionProvider } from '../runtime/providers.js';
import { type JsonObject, saveCheckpoint } from './checkpoint.js';
import { pairOptionsFor } from './data.js';
import { type MetricRecord, MetricsLog, StatusLine, type StatusStream, metricsPath, writeLossPlot } from './metrics.js';
import type { PreparedRun } from './run.js';
import { type LrSchedule, type MomentumSchedule, learningRate, momentumAt } from './schedules.js';
import { stateFromTensors, stateToTensors } from './state.js';
import { type Residency, StepRunner } from './step.js';

export type { Residency } from './step.js';

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

function describe(cfg: MultiSiamConfig): string {
  return `${cfg.backbone.arch} ×${cfg.backbone.width}, ${cfg.data.image_size}px, batch ${cfg.train.batch_size}`;
}
