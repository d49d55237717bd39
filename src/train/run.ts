/**
 * Preparing a run directory before the loop starts (trainer.ts takes the result and never builds
 * graphs itself). Everything that can be refused is checked before anything is written:
 *
 * 1. --out: not empty text, not a file, writable; not a folder of someone else's files; not locked
 *    by a live run (lock.ts).
 * 2. What RUN holds decides what happens. No complete checkpoint (a new folder, or a run that died
 *    before its first checkpoint, with or without --resume): start from step 0; a dead run's files
 *    are removed first, with a line saying so. A complete checkpoint: --resume continues from it;
 *    without --resume the run is refused, so nothing is overwritten by mistake.
 * 3. The execution provider: a tiny session is created on it, so an unavailable one fails first,
 *    with the runtime's explanation, and `--ep auto` says which one it chose.
 * 4. The data: scanned, one image decoded, fingerprinted (source, count, file-list hash); on resume
 *    it must be what the run was started on (RUN/data.json).
 * 5. The configuration (configure.ts, or one given whole): on resume it must be the one the run
 *    follows, except the run length (extending or shortening re-plans the schedules, below) and
 *    optim.base_lr (the way on after a non-finite stop), each change said and recorded in the
 *    checkpoint state; operational fields (workers, logging, checkpoint cadence) may always change.
 *    A dataset smaller than a batch is refused.
 * 6. Memory: a new CPU run whose estimated peak exceeds the machine's is refused (memory.ts).
 * Then RUN is locked, a killed run's temp files are removed, and the bundle (built, or copied from
 * `--bundle`), config.json and data.json are put in place, atomically and with disk errors naming
 * the path.
 *
 * Extending: the learning rate and the EMA momentum are functions of (step, total steps); a run
 * resumed with another total follows, from its checkpoint's step on, exactly the schedules of a run
 * planned with the new total from the start (warm-up unchanged). It is deterministic: resuming the
 * extended run again with the same total gives the same values.
 */
import { cpSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Bundle, type WriteBundleOptions, readBundle, writeBundle } from '../bundle/bundle.js';
import { formatBytes } from '../bundle/inspect.js';
import { type ScheduleSteps, scheduleSteps } from '../config/derived.js';
import { formatValue, type Value } from '../config/fields.js';
import type { MultiSiamConfig } from '../config/schema.js';
import { type DataFingerprint, type DataSpec, checkDecodable, dataFingerprint, openSource, parseDataArg } from '../data/sources.js';
import { CONFIG, resolveConfig } from '../methods/index.js';
import { Graph } from '../onnx/ir.js';
import { add } from '../onnx/ops/Add.js';
import { DEVICE_POLICIES } from '../onnx/policy.js';
import { writeModel } from '../onnx/serialize.js';
import type { ConcreteProvider, ExecutionProvider } from '../runtime/providers.js';
import { Session } from '../runtime/session.js';
import { type Checkpoint, type Json, latestCheckpoint, loadCheckpoint } from './checkpoint.js';
import type { ConfiguredRun, RunContext } from './configure.js';
import { RunLock, checkRunLock } from './lock.js';
import { checkRunMemory } from './memory.js';
import { RUN_BUNDLE, RUN_CONFIG, RUN_DATA, checkOutPath, clearRun, diskError, makeDirs, removeDebris, runDirState, writeFileAtomic } from './rundir.js';

export { RUN_BUNDLE, RUN_CONFIG } from './rundir.js';

export interface RunOptions {
  /** `synthetic[:N]` or an image folder. */
  readonly data: string;
  /** The run directory: bundle, checkpoints, metrics, plot. */
  readonly out: string;
  /** The configuration, or how to make it once the data and the run directory are known (configure.ts). */
  readonly config: MultiSiamConfig | ((context: RunContext) => ConfiguredRun);
  /** A prebuilt bundle to train (copied into the run); built from the configuration when absent. */
  readonly bundle?: string;
  readonly resume?: boolean;
  /** Where the step graphs run (default cpu); probed before anything is written. */
  readonly ep?: ExecutionProvider;
  /** Refuse a new CPU run whose estimated memory exceeds the machine's (default true). */
  readonly memoryCheck?: boolean;
  /** Lines about what is being done for the user: restart, resume, provider, warm-up, bundle build (default: stderr). */
  readonly note?: (line: string) => void;
  /** How a new bundle's graphs are built; by default for the provider's device (runtime.device_policy). */
  readonly build?: WriteBundleOptions;
}

/** A change of the configuration at a resume, as the checkpoint state records it. */
export interface ConfigChange {
  readonly step: number;
  readonly field: string;
  readonly from: Value;
  readonly to: Value;
}

/** Everything the loop needs, checked and in place. */
export interface PreparedRun {
  readonly dir: string;
  readonly config: MultiSiamConfig;
  readonly bundle: Bundle;
  readonly data: DataSpec;
  readonly images: number;
  /** floor(images / batch): what `epoch` counts in, whether the run is given in steps or epochs. */
  readonly stepsPerEpoch: number;
  readonly schedule: ScheduleSteps;
  /** The checkpoint to continue from, or null for a new run. */
  readonly checkpoint: Checkpoint | null;
  /** The provider that loaded (for `auto`, the one chosen). */
  readonly ep: ConcreteProvider;
  /** Learning-rate back-off carried from the checkpoint (1 when optim.base_lr was changed on resume). */
  readonly lrScale: number;
  /** Every configuration change of the run so far, this resume's included. */
  readonly changes: readonly ConfigChange[];
  /** RUN/lock, held until the loop ends (train() releases it). */
  readonly lock: RunLock;
}

/** Fields that may differ on --resume (besides operational ones): the run length, and the learning rate after a non-finite stop. */
const RESUMABLE_CHANGES: ReadonlySet<string> = new Set(['train.steps', 'train.epochs', 'optim.base_lr']);

const stderrNote = (line: string): void => console.error(`multisiam: ${line}`);

export async function prepareRun(options: RunOptions): Promise<PreparedRun> {
  const note = options.note ?? stderrNote;
  const out = options.out;
  checkOutPath(out);
  const state = runDirState(out);
  if (state.kind === 'foreign') {
    const shown = state.entries.slice(0, 5).join(', ') + (state.entries.length > 5 ? ', …' : '');
    throw new Error(`--out ${out} is not empty (${shown}) and holds no multisiam run; choose a new or empty directory, so that no file of yours is overwritten`);
  }
  if (options.resume && state.kind === 'absent') {
    throw new Error(`--resume: run directory ${out} does not exist; drop --resume to start a new run there, or pass the --out of the run to continue`);
  }
  if (state.kind === 'run') checkRunLock(out);
  const latest = state.kind === 'run' ? latestCheckpoint(out) : null;
  if (latest && !options.resume) {
    throw new Error(`--out ${out} already holds a run (latest checkpoint ${latest}); pass --resume to continue it (with a larger --steps to extend it), or choose another --out`);
  }
  const checkpoint = latest ? loadCheckpoint(latest) : null;
  const provider = await probeProvider(options.ep ?? 'cpu');
  note(provider.line);

  const data = await parseDataArg(options.data);
  const images = openSource(data).count;
  const fingerprint = dataFingerprint(data);
  const recordedData = checkpoint ? checkSameData(out, fingerprint, note) : null;
  await checkDecodable(data);

  const recorded = checkpoint ? recordedConfig(out, checkpoint) : null;
  const configured = typeof options.config === 'function' ? options.config({ out, images, recorded }) : { config: options.config, notes: [] };
  const config = configured.config;
  for (const line of configured.notes) note(line);
  if (images < config.train.batch_size) {
    throw new Error(
      `--data '${options.data}' holds ${images} image(s), fewer than train.batch_size ${config.train.batch_size}: every batch would repeat images. ` +
        `Give at least ${config.train.batch_size} images, or a smaller batch (--set train.batch_size=N with N ≤ ${images}, at least 2)`,
    );
  }
  const schedule = scheduleSteps(config, images);
  const stepsPerEpoch = Math.floor(images / config.train.batch_size);
  const resumed = checkpoint && recorded ? checkResume(out, checkpoint, recorded, config, images, schedule, note) : null;

  if (!checkpoint && provider.ep === 'cpu' && options.memoryCheck !== false) checkRunMemory(config);

  // Nothing was written above this line.
  makeDirs(out, 'out');
  const lock = RunLock.acquire(out);
  try {
    removeDebris(out);
    if (state.kind === 'run' && !checkpoint) {
      clearRun(out);
      note(`${out} holds a run that stopped before its first complete checkpoint; starting it again from step 0 (its bundle, metrics and partial files are replaced)`);
    }
    if (checkpoint) note(`resuming ${out} from step ${checkpoint.step} of ${schedule.totalSteps} (${checkpoint.dir})`);
    const bundle = checkpoint ? readBundle(join(out, RUN_BUNDLE)) : placeBundle(options, config, provider.ep, note);
    record(join(out, RUN_CONFIG), config);
    if (!recordedData) record(join(out, RUN_DATA), fingerprint);
    return {
      dir: out,
      config,
      bundle,
      data,
      images,
      stepsPerEpoch,
      schedule,
      checkpoint,
      ep: provider.ep,
      lrScale: resumed?.lrScale ?? 1,
      changes: resumed?.changes ?? [],
      lock,
    };
  } catch (e) {
    lock.release();
    throw e;
  }
}

/** Writes one of the run's JSON records atomically. */
function record(path: string, value: MultiSiamConfig | DataFingerprint): void {
  try {
    writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
  } catch (e) {
    throw diskError(e, path, 'the run record');
  }
}

/** The bundle of a new run: copied from --bundle, or built for the configuration and the provider's device. */
function placeBundle(options: RunOptions, config: MultiSiamConfig, ep: ConcreteProvider, note: (line: string) => void): Bundle {
  const dir = join(options.out, RUN_BUNDLE);
  const started = Date.now();
  try {
    if (options.bundle) {
      readBundle(options.bundle);
      note(`copying bundle '${options.bundle}' to ${dir}`);
      // Copied beside its place and renamed, so a crash leaves a temp folder (removed next time), not half a bundle.
      const tmp = `${dir}.tmp-${process.pid}`;
      cpSync(options.bundle, tmp, { recursive: true });
      renameSync(tmp, dir);
    } else {
      const policy = config.runtime.device_policy === 'auto' ? (ep === 'cpu' ? 'cpu' : 'gpu') : config.runtime.device_policy;
      note(`building the training bundle (${config.backbone.arch} ×${config.backbone.width}, ${config.data.image_size}², batch ${config.train.batch_size}, ${policy} gradient forms) in ${dir}`);
      const report = writeBundle(config, dir, options.build ?? { policy: DEVICE_POLICIES[policy] });
      note(`bundle built in ${(report.buildMs / 1000).toFixed(1)} s (${formatBytes(report.files.reduce((s, f) => s + f.bytes, 0))})`);
    }
  } catch (e) {
    rmSync(`${dir}.tmp-${process.pid}`, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    throw code ? diskError(e, dir, 'the training bundle') : e;
  }
  if (options.bundle) note(`bundle copied in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return readBundle(dir);
}

/** The configuration the run followed at `checkpoint` (its state records it; older runs: config.json), validated. */
function recordedConfig(out: string, checkpoint: Checkpoint): MultiSiamConfig {
  const path = join(out, RUN_CONFIG);
  let raw: Json | undefined = checkpoint.state.config;
  let label = `in checkpoint ${checkpoint.dir}`;
  if (raw === undefined) {
    try {
      raw = JSON.parse(readFileSync(path, 'utf8')) as Json;
      label = `in ${path}`;
    } catch (e) {
      throw new Error(`--resume: cannot read the configuration of run ${out} (${path}: ${(e as Error).message}); start a new run with another --out`);
    }
  }
  // Resolved over the defaults, so a field added since the run started takes its default.
  return resolveConfig({ base: { config: raw as unknown as MultiSiamConfig, label }, onWarning: () => undefined });
}

/** Refuses a resume on other data, naming both; returns what RUN/data.json records (null for runs older than it). */
function checkSameData(out: string, now: DataFingerprint, note: (line: string) => void): DataFingerprint | null {
  const path = join(out, RUN_DATA);
  let then: DataFingerprint;
  try {
    then = JSON.parse(readFileSync(path, 'utf8')) as DataFingerprint;
  } catch {
    note(`${path} is missing (a run started by an older multisiam): recording --data ${now.source} (${now.images} images) as its data`);
    return null;
  }
  const show = (f: DataFingerprint): string => `${f.source} (${f.images} images, file list ${f.list_sha256.slice(0, 12)})`;
  if (then.images !== now.images || then.list_sha256 !== now.list_sha256) {
    throw new Error(`--resume: --data differs from the data run ${out} was started on (${path}): now ${show(now)}, then ${show(then)}. Resume with --data ${then.source}, or start a new run with another --out`);
  }
  if (then.source !== now.source) note(`data: the same ${now.images} images the run started on, now at ${now.source} (recorded: ${then.source})`);
  return then;
}

/**
 * Checks a resume against the run's configuration and step; returns the changes it makes (each said
 * in a line) and the learning-rate back-off to continue with.
 */
function checkResume(out: string, checkpoint: Checkpoint, recorded: MultiSiamConfig, config: MultiSiamConfig, images: number, schedule: ScheduleSteps, note: (line: string) => void): { changes: ConfigChange[]; lrScale: number } {
  const step = checkpoint.step;
  const differences = CONFIG.differences(recorded, config);
  const refused = differences.filter((d) => !RESUMABLE_CHANGES.has(d.path));
  if (refused.length > 0) {
    const list = refused.map((d) => `${d.path} ${formatValue(d.from)} (run) → ${formatValue(d.to)} (now)`).join('; ');
    throw new Error(
      `--resume: the configuration given now differs from the one run ${out} follows (${join(out, RUN_CONFIG)}): ${list}. ` +
        'Resume with the run\'s values (or with no --preset/--config/--bundle: the run\'s own configuration is then used), or start a new run with another --out. ' +
        'On --resume only the run length (--steps, --epochs), optim.base_lr and operational fields may change',
    );
  }
  const before = scheduleSteps(recorded, images).totalSteps;
  const total = schedule.totalSteps;
  if (total <= step) {
    throw new Error(
      total === before && total === step
        ? `run ${out} already finished its ${total} steps; to train longer, extend it: the same command with --resume and a larger --steps (e.g. --steps ${2 * total})`
        : `--resume: the run length now ends at step ${total}, but run ${out} is already at step ${step}; give more than ${step} steps (--steps) to continue it`,
    );
  }
  if (total !== before) {
    note(
      `${total > before ? 'extending' : 'shortening'} the run from ${before} to ${total} steps: from step ${step} on, the learning rate and the EMA momentum ` +
        `follow the cosine schedules of a ${total}-step run (warm-up stays ${schedule.warmupSteps} steps)`,
    );
  }
  const previous = (checkpoint.state.changes ?? []) as unknown as ConfigChange[];
  const changes = differences.map((d) => ({ step, field: d.path, from: d.from, to: d.to }));
  let lrScale = Number(checkpoint.state.lr_scale ?? 1);
  if (differences.some((d) => d.path === 'optim.base_lr')) {
    note(`optim.base_lr ${recorded.optim.base_lr} → ${config.optim.base_lr} from step ${step} on (recorded in the checkpoints)${lrScale !== 1 ? `; the automatic back-off ×${lrScale} is reset` : ''}`);
    lrScale = 1;
  }
  return { changes: [...previous, ...changes], lrScale };
}

/**
 * Creates a one-node session on `ep`, so an unavailable provider fails before anything is written,
 * with the runtime's explanation of what is missing; for `auto`, says which provider loaded.
 */
async function probeProvider(ep: ExecutionProvider): Promise<{ ep: ConcreteProvider; line: string }> {
  const g = new Graph('probe');
  g.output('y', add(g.input('x', 'float32', [1]), 1));
  const session = await Session.create(writeModel(g).model, { ep }, `--ep ${ep}`);
  const chosen = session.ep;
  const skipped = session.skipped.map((s) => s.replace(/^(\w+): (.{0,100}).*$/s, (_m, name: string, why: string) => `${name} skipped: ${why}${why.length === 100 ? '…' : ''}`));
  await session.release();
  const line = ep === 'auto' ? `execution provider: ${chosen} (--ep auto takes the first of cuda, webgpu, cpu that loads${skipped.length > 0 ? `; ${skipped.join('; ')}` : ''})` : `execution provider: ${chosen}`;
  return { ep: chosen, line };
}
