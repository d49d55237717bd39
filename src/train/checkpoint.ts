/**
 * Checkpoints (SPEC §3, §6): `RUN/checkpoints/step-000123/` holds `params.safetensors` (every tensor
 * the loop hands over: online, target, optimizer state, queues) and `state.json` (the loop state as
 * an opaque JSON object — step, epoch, RNG state, queue pointer, schedules, config hash — wrapped with
 * a format version).
 *
 * Atomicity: both files are written and fsynced inside `.tmp-step-…` in the same parent, the temp dir
 * is fsynced, renamed to `step-…` and the parent fsynced. A `step-N` directory therefore only ever
 * appears complete; a crash leaves at most a `.tmp-` directory, which readers ignore and the next save
 * removes. Older checkpoints are pruned only after the new one is in place. One writer per run
 * directory (lock.ts holds the others off).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readSafetensors, type TensorMap, writeSafetensors } from '../bundle/safetensors.js';
import { RUN_CHECKPOINTS, fsyncPath, writeFileSynced } from './rundir.js';

export const CHECKPOINT_FORMAT_VERSION = 1;
const FORMAT = 'multisiam-checkpoint';
const PARAMS = 'params.safetensors';
const STATE = 'state.json';
const STEP_DIR = /^step-(\d+)$/;
/** Crash debris: unfinished writes and checkpoints being replaced. */
const DEBRIS = /^\.(tmp|old)-step-/;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface Checkpoint {
  dir: string;
  step: number;
  /** The caller's loop state, as saved. */
  state: JsonObject;
  tensors: TensorMap;
}

export interface SaveOptions {
  /** How many checkpoints to keep, the new one included (≥ 1). */
  keep: number;
}

export function checkpointsRoot(runDir: string): string {
  return join(runDir, RUN_CHECKPOINTS);
}

export function checkpointDir(runDir: string, step: number): string {
  return join(checkpointsRoot(runDir), `step-${String(step).padStart(6, '0')}`);
}

/**
 * Writes checkpoint `step` atomically and prunes all but the newest `keep` (the new one always
 * stays). Replaces an existing checkpoint of the same step. Returns its directory.
 */
export function saveCheckpoint(runDir: string, step: number, tensors: TensorMap, state: JsonObject, options: SaveOptions): string {
  if (!(Number.isInteger(step) && step >= 0)) throw new RangeError(`checkpoint: step must be an integer ≥ 0, got ${step}`);
  if (!(Number.isInteger(options.keep) && options.keep >= 1)) throw new RangeError(`checkpoint: keep_checkpoints must be an integer ≥ 1, got ${options.keep}`);
  const root = checkpointsRoot(runDir);
  mkdirSync(root, { recursive: true });
  const final = checkpointDir(runDir, step);
  const name = basename(final);
  // Serialise before touching the disk, so a state that JSON cannot hold fails without debris.
  const stateText = JSON.stringify({ format: FORMAT, format_version: CHECKPOINT_FORMAT_VERSION, step, state }, null, 2) + '\n';
  const tmp = mkdtempSync(join(root, `.tmp-${name}-`));
  let replaced: string | null = null;
  try {
    writeSafetensors(join(tmp, PARAMS), tensors, { format: FORMAT, step: String(step) });
    writeFileSynced(join(tmp, STATE), stateText);
    fsyncPath(tmp);
    if (existsSync(final)) {
      replaced = join(root, `.old-${name}-${process.pid}`);
      renameSync(final, replaced);
    }
    renameSync(tmp, final);
    fsyncPath(root);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (replaced && !existsSync(final)) renameSync(replaced, final);
    throw new Error(`checkpoint: could not write ${final} (${(e as Error).message}); the previous checkpoints are untouched`);
  }
  for (const entry of readdirSync(root)) {
    if (DEBRIS.test(entry)) rmSync(join(root, entry), { recursive: true, force: true });
  }
  const older = listCheckpoints(runDir).filter((c) => c.dir !== final);
  for (const c of older.slice(0, Math.max(0, older.length - (options.keep - 1)))) rmSync(c.dir, { recursive: true, force: true });
  return final;
}

/** Complete checkpoints of a run, oldest first; temp dirs and anything else are ignored. */
export function listCheckpoints(runDir: string): { step: number; dir: string }[] {
  const root = checkpointsRoot(runDir);
  if (!existsSync(root)) return [];
  const found: { step: number; dir: string }[] = [];
  for (const entry of readdirSync(root)) {
    const m = STEP_DIR.exec(entry);
    const dir = join(root, entry);
    if (m && existsSync(join(dir, STATE)) && existsSync(join(dir, PARAMS))) found.push({ step: Number(m[1]), dir });
  }
  return found.sort((a, b) => a.step - b.step);
}

/** The directory of the newest complete checkpoint, or null when there is none. */
export function latestCheckpoint(runDir: string): string | null {
  return listCheckpoints(runDir).at(-1)?.dir ?? null;
}

/** Reads and validates one checkpoint directory. */
export function loadCheckpoint(dir: string): Checkpoint {
  const statePath = join(dir, STATE);
  let doc: { format?: unknown; format_version?: unknown; step?: unknown; state?: unknown };
  try {
    doc = JSON.parse(readFileSync(statePath, 'utf8'));
  } catch (e) {
    throw new Error(`checkpoint ${statePath}: cannot read (${(e as Error).message}); resume from an earlier checkpoint by deleting this directory`);
  }
  if (doc.format !== FORMAT) throw new Error(`checkpoint ${statePath}: format is ${JSON.stringify(doc.format)}, expected "${FORMAT}"`);
  if (doc.format_version !== CHECKPOINT_FORMAT_VERSION) {
    throw new Error(`checkpoint ${statePath}: format_version ${JSON.stringify(doc.format_version)} is not the ${CHECKPOINT_FORMAT_VERSION} this multisiam reads; use the multisiam version that wrote it`);
  }
  const m = STEP_DIR.exec(basename(dir));
  if (!(Number.isInteger(doc.step) && (doc.step as number) >= 0) || (m && Number(m[1]) !== doc.step)) {
    throw new Error(`checkpoint ${statePath}: step ${JSON.stringify(doc.step)} does not match the directory name`);
  }
  if (typeof doc.state !== 'object' || doc.state === null || Array.isArray(doc.state)) throw new Error(`checkpoint ${statePath}: "state" must be a JSON object`);
  const { tensors } = readSafetensors(join(dir, PARAMS));
  return { dir, step: doc.step as number, state: doc.state as JsonObject, tensors };
}
