/**
 * Preparing a run directory before the loop starts: check the data source, the schedule and the
 * checkpoint to resume (everything that can fail on bad input, before anything is written), then put
 * the bundle in place — built from the configuration, copied from `--bundle`, or, on resume, the one
 * the run already has. The loop (trainer.ts) takes the result and never builds graphs itself.
 *
 * RUN/config.json records the configuration the run follows, which a resumed run must repeat
 * (operational fields such as workers may differ).
 */
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Bundle, type WriteBundleOptions, readBundle, writeBundle } from '../bundle/bundle.js';
import { type ScheduleSteps, scheduleSteps } from '../config/derived.js';
import type { MultiSiamConfig } from '../config/schema.js';
import { type DataSpec, openSource, parseDataArg } from '../data/sources.js';
import { configHash } from '../methods/index.js';
import { type Checkpoint, resumeCheckpoint } from './checkpoint.js';

export const RUN_CONFIG = 'config.json';
export const RUN_BUNDLE = 'bundle';

export interface RunOptions {
  /** `synthetic[:N]` or an image folder. */
  readonly data: string;
  /** The run directory: bundle, checkpoints, metrics, plot. */
  readonly out: string;
  /** The configuration the run follows (for `bundle`, the bundle's with run-length overrides). */
  readonly config: MultiSiamConfig;
  /** A prebuilt bundle to train (copied into the run); built from `config` when absent. */
  readonly bundle?: string;
  readonly resume?: boolean;
  /** How a new bundle's graphs are built (device policy). */
  readonly build?: WriteBundleOptions;
}

/** Everything the loop needs, checked and in place. */
export interface PreparedRun {
  readonly dir: string;
  readonly config: MultiSiamConfig;
  readonly bundle: Bundle;
  readonly data: DataSpec;
  readonly images: number;
  readonly schedule: ScheduleSteps;
  /** The checkpoint to continue from, or null for a new run. */
  readonly checkpoint: Checkpoint | null;
}

export async function prepareRun(options: RunOptions): Promise<PreparedRun> {
  const data = await parseDataArg(options.data);
  const images = openSource(data).count;
  const schedule = scheduleSteps(options.config, images);
  const checkpoint = options.resume ? resumeCheckpoint(options.out) : null;
  const bundle = placeBundle(options, checkpoint !== null);
  return { dir: options.out, config: options.config, bundle, data, images, schedule, checkpoint };
}

function placeBundle(options: RunOptions, resuming: boolean): Bundle {
  const dir = join(options.out, RUN_BUNDLE);
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
    writeBundle(options.config, dir, options.build);
  }
  writeFileSync(recorded, JSON.stringify(options.config, null, 2) + '\n');
  return readBundle(dir);
}
