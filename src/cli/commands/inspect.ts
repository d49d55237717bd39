import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { MANIFEST_FILE } from '../../bundle/bundle.js';
import { formatInspection, inspectBundle } from '../../bundle/inspect.js';
import { scheduleSteps } from '../../config/derived.js';
import type { MultiSiamConfig } from '../../config/schema.js';
import type { DataFingerprint } from '../../data/sources.js';
import { listCheckpoints } from '../../train/checkpoint.js';
import { RUN_BUNDLE, RUN_CONFIG, RUN_DATA, runDirState } from '../../train/rundir.js';
import { help, ownHelp } from '../flags.js';

interface InspectArgs {
  readonly dir?: string;
  readonly json: boolean;
}

/** Where a run stands: its checkpoints against its length, and its data (as RUN records them). */
interface RunSummary {
  readonly dir: string;
  readonly bundle: string;
  readonly checkpoints: readonly number[];
  readonly total_steps: number | null;
  readonly data: DataFingerprint | null;
}

function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

function runSummary(dir: string): RunSummary {
  const config = readJson<MultiSiamConfig>(join(dir, RUN_CONFIG));
  const data = readJson<DataFingerprint>(join(dir, RUN_DATA));
  let total: number | null = null;
  try {
    total = config ? scheduleSteps(config, data?.images).totalSteps : null;
  } catch {
    // A length in epochs without the image count (a run older than data.json): left unknown.
  }
  return { dir, bundle: join(dir, RUN_BUNDLE), checkpoints: listCheckpoints(dir).map((c) => c.step), total_steps: total, data };
}

function formatRun(r: RunSummary): string {
  const latest = r.checkpoints.at(-1);
  const progress = latest === undefined ? 'no complete checkpoint yet' : `latest checkpoint at step ${latest}${r.total_steps !== null ? ` of ${r.total_steps}` : ''} (checkpoints: ${r.checkpoints.join(', ')})`;
  const data = r.data ? `${r.data.source} (${r.data.images} images)` : 'not recorded';
  return [`run ${r.dir}: ${progress}; data ${data}`, `its bundle, ${r.bundle}:`, ''].join('\n');
}

export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <dir>',
  describe: 'Summarise a bundle or a run: config, parameter counts, FLOPs per step, graph inputs and outputs by role (a run: its progress and data too)',
  builder: (y) =>
    ownHelp(y)
      .positional('dir', { type: 'string', demandOption: true, describe: help('A bundle directory (from `multisiam build`) or a run directory (from `multisiam train`: its bundle is inspected)', { required: true }) })
      .option('json', { type: 'boolean', default: false, describe: help('Print the same summary as JSON', { default: 'false' }) })
      .example('$0 inspect bundles/tiny', 'a bundle')
      .example('$0 inspect runs/tiny', "a run: its progress, data and bundle")
      .example('$0 inspect bundles/tiny --json', 'as JSON'),
  handler: (args) => {
    const dir = args.dir ?? '';
    if (dir.trim() === '') throw new Error('inspect: the directory is empty; give a bundle directory or a run directory');
    const isRun = !existsSync(join(dir, MANIFEST_FILE)) && runDirState(dir).kind === 'run';
    if (isRun && !existsSync(join(dir, RUN_BUNDLE, MANIFEST_FILE))) {
      throw new Error(`inspect: run ${dir} has no complete bundle (it stopped while building it); the same train command builds it again`);
    }
    const run = isRun ? runSummary(dir) : null;
    const inspection = inspectBundle(run ? run.bundle : dir);
    if (args.json) console.log(JSON.stringify(run ? { run, ...inspection } : inspection, null, 2));
    else console.log((run ? formatRun(run) : '') + formatInspection(inspection));
  },
};
