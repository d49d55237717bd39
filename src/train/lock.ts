/**
 * One writer per run directory. RUN/lock holds the owner's pid, host and start time; it appears
 * complete or not at all (written to a temp file, then hard-linked into place, which fails if a lock
 * is already there), so of two runs started together exactly one gets it. A lock whose process is
 * gone (killed, crashed, the machine rebooted) is taken over; a live owner is refused by pid. A lock
 * written on another host cannot be checked from here and is refused with the way to clear it.
 */
import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const LOCK_FILE = 'lock';

interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly started: string;
}

/** Whether `pid` is a live process on this host (EPERM: alive, owned by another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    return Number.isInteger(o.pid) && typeof o.host === 'string' ? { pid: o.pid!, host: o.host, started: String(o.started ?? '?') } : null;
  } catch {
    return null;
  }
}

/** Why the lock at `path` cannot be taken (a live or unverifiable owner), or null when it is free or stale. */
function refusal(dir: string, path: string, owner: LockOwner | null): string | null {
  // Absent, or unreadable (locks appear complete, so not one this code wrote): nobody owns it.
  if (!owner) return null;
  const what = `--out ${dir} is being written by another run`;
  if (owner.host !== hostname()) {
    return `${what}: process ${owner.pid} on host ${owner.host}, started ${owner.started} (lock file ${path}), which cannot be checked from this host. Wait for that run to finish, or, if it is gone, delete ${path}; or choose another --out`;
  }
  if (owner.pid === process.pid || alive(owner.pid)) {
    return `${what}: process ${owner.pid}, started ${owner.started} (lock file ${path}). Wait for it to finish or stop it (kill ${owner.pid}), or choose another --out`;
  }
  return null;
}

/** Throws, naming the other writer, when RUN is locked by a live process; reads only. */
export function checkRunLock(dir: string): void {
  const path = join(dir, LOCK_FILE);
  const why = refusal(dir, path, readOwner(path));
  if (why) throw new Error(why);
}

export class RunLock {
  private held = true;
  private readonly onExit = (): void => this.release();

  private constructor(readonly path: string) {
    // A process that ends without release() (process.exit on a second Ctrl-C) still clears its lock.
    process.once('exit', this.onExit);
  }

  /** Takes RUN/lock (RUN must exist); throws naming the owner when another live run holds it. */
  static acquire(dir: string): RunLock {
    const path = join(dir, LOCK_FILE);
    const mine: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(mine) + '\n');
    try {
      // A few rounds: each either takes the lock, refuses, or clears one stale lock and tries again.
      for (let round = 0; round < 5; round++) {
        try {
          linkSync(tmp, path);
          return new RunLock(path);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
        const owner = readOwner(path);
        const why = refusal(dir, path, owner);
        if (why) throw new Error(why);
        takeOver(path, owner);
      }
      throw new Error(`--out ${dir}: could not take the lock file ${path} (other runs keep replacing it); try again`);
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  /** Removes the lock if it is still this process's. Idempotent. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    process.off('exit', this.onExit);
    if (readOwner(this.path)?.pid === process.pid) rmSync(this.path, { force: true });
  }
}

/**
 * Clears a stale lock. Claiming it by rename means only one of two processes taking over the same
 * stale lock removes it; if what was claimed is no longer the stale owner's (another run took over
 * in between), it is put back.
 */
function takeOver(path: string, stale: LockOwner | null): void {
  const claimed = `${path}.stale.${process.pid}`;
  try {
    renameSync(path, claimed);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const moved = readOwner(claimed);
  if (moved && stale && moved.pid !== stale.pid) {
    try {
      linkSync(claimed, path);
    } catch {
      // A third run has locked meanwhile: it is the owner now, and the next round sees it.
    }
  }
  rmSync(claimed, { force: true });
}
