/**
 * The run directory on disk: which files a run keeps there, what a directory holds (nothing, a run,
 * or something else that must not be touched), writing files so that a crash never leaves a
 * half-written one, and disk errors turned into messages that name the path and what to do.
 *
 *   RUN/lock            the writer's pid (lock.ts)
 *   RUN/bundle/         the training bundle the run follows
 *   RUN/config.json     the configuration it follows now
 *   RUN/data.json       the data it was started on (source, image count, file-list fingerprint)
 *   RUN/checkpoints/    step-NNNNNN/ checkpoints (checkpoint.ts)
 *   RUN/metrics.jsonl   one line per logged step; RUN/loss.svg drawn from it
 */
import { accessSync, closeSync, constants, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { LOCK_FILE } from './lock.js';

export const RUN_BUNDLE = 'bundle';
export const RUN_CONFIG = 'config.json';
export const RUN_DATA = 'data.json';
export const RUN_CHECKPOINTS = 'checkpoints';
export const RUN_METRICS = 'metrics.jsonl';
export const RUN_PLOT = 'loss.svg';

/** Files a run writes; a restart removes exactly these (anything else in RUN is the user's). */
const RUN_ENTRIES = new Set([RUN_BUNDLE, RUN_CONFIG, RUN_DATA, RUN_CHECKPOINTS, RUN_METRICS, RUN_PLOT]);
/** What a killed run leaves: the bundle builder's `bundle.tmp-<pid>` and writeFileAtomic's `<file>.tmp`. */
const isDebris = (entry: string): boolean => /^bundle\.tmp-\d+$/.test(entry) || (entry.endsWith('.tmp') && RUN_ENTRIES.has(entry.slice(0, -4)));

export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `data` to `path` and fsyncs it. */
export function writeFileSynced(path: string, data: string | Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces `path` by `data` atomically: a crash leaves the old file or the new one, never part of one. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp`;
  try {
    writeFileSynced(tmp, data);
    renameSync(tmp, path);
    fsyncPath(dirname(path));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

const DISK_PROBLEMS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is exceeded',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
};

/** An error from writing `path` (the `what` of a run) as a message naming the path and what to do. */
export function diskError(e: unknown, path: string, what: string): Error {
  const err = e as NodeJS.ErrnoException;
  const problem = (err.code && DISK_PROBLEMS[err.code]) ?? err.message;
  const fix = err.code === 'ENOSPC' || err.code === 'EDQUOT' ? 'free some space or choose an --out on another disk' : 'choose another --out';
  return new Error(`cannot write ${what} ${path}: ${problem}${err.code ? ` (${err.code})` : ''}; ${fix}`);
}

/**
 * Checks that --out can hold a run before anything is written: not empty text, not a file, and
 * writable (or, when it does not exist yet, creatable in its nearest existing parent).
 */
export function checkOutPath(out: string): void {
  if (out.trim() === '') throw new Error('--out is empty; allowed: a directory (created if missing)');
  let probe = resolve(out);
  while (!existsSync(probe)) {
    const parent = dirname(probe);
    if (parent === probe) break;
    probe = parent;
  }
  if (!statSync(probe).isDirectory()) {
    throw new Error(probe === resolve(out) ? `--out ${out} is a file; allowed: a directory (created if missing)` : `--out ${out} cannot be created: ${probe} is a file`);
  }
  try {
    accessSync(probe, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = (code && DISK_PROBLEMS[code]) ?? (e as Error).message;
    const where = probe === resolve(out) ? `--out ${out} is not writable` : `--out ${out} cannot be created: ${probe} is not writable`;
    throw new Error(`${where} (${why}${code ? `, ${code}` : ''}); choose another --out`);
  }
}

/**
 * Creates `dir` and its missing parents one level at a time: Node's recursive mkdirSync loops
 * forever where a file system refuses new entries with ENOENT (/proc, some read-only mounts).
 */
export function makeDirs(dir: string, flag: string): void {
  const missing: string[] = [];
  for (let p = resolve(dir); !existsSync(p); p = dirname(p)) missing.unshift(p);
  for (const p of missing) {
    try {
      mkdirSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      const code = (e as NodeJS.ErrnoException).code ?? '';
      throw new Error(`--${flag} ${dir} cannot be created: mkdir ${p} failed (${DISK_PROBLEMS[code] ?? (e as Error).message}${code ? `, ${code}` : ''}); choose another --${flag}`);
    }
  }
}

export type RunDirState =
  | { readonly kind: 'absent' }
  /** Exists and holds nothing a run wrote (it may hold the user's files, see `foreign`). */
  | { readonly kind: 'empty' }
  /** Holds what a run writes: bundle, checkpoints, metrics, debris of one that died. */
  | { readonly kind: 'run' }
  /** Not empty, and nothing in it is a run's: never written into. */
  | { readonly kind: 'foreign'; readonly entries: readonly string[] };

/** What RUN holds. A run's marks: a complete bundle, checkpoints, metrics, a lock, or a bundle build cut short. */
export function runDirState(dir: string): RunDirState {
  if (!existsSync(dir)) return { kind: 'absent' };
  const entries = readdirSync(dir);
  if (entries.length === 0) return { kind: 'empty' };
  const marked = entries.some(
    (e) => e === RUN_CHECKPOINTS || e === RUN_METRICS || e === LOCK_FILE || /^bundle\.tmp-\d+$/.test(e) || (e === RUN_BUNDLE && existsSync(join(dir, RUN_BUNDLE, 'manifest.json'))),
  );
  return marked ? { kind: 'run' } : { kind: 'foreign', entries };
}

/** Removes temp files and unfinished bundle builds a killed run left (the caller holds the lock). */
export function removeDebris(dir: string): string[] {
  const removed = readdirSync(dir).filter(isDebris);
  for (const e of removed) rmSync(join(dir, e), { recursive: true, force: true });
  return removed;
}

/** Removes everything a run wrote, for a restart; the lock and the user's own files stay. */
export function clearRun(dir: string): void {
  removeDebris(dir);
  for (const e of readdirSync(dir)) if (RUN_ENTRIES.has(e)) rmSync(join(dir, e), { recursive: true, force: true });
}
