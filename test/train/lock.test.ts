/**
 * One writer per run directory (issue 9, case 3): the lock names its owner's pid, a live owner is
 * refused by pid, a dead one's lock is taken over, a lock from another host is refused with the way
 * to clear it, and a released lock is gone.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LOCK_FILE, RunLock, checkRunLock } from '../../src/train/lock.js';

const scratch = mkdtempSync(join(tmpdir(), 'multisiam-lock-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

function fresh(name: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  return dir;
}

test('the lock holds the pid; a second taker is refused by pid; release removes it', () => {
  const dir = fresh('own');
  const lock = RunLock.acquire(dir);
  const owner = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { pid: number; host: string };
  assert.equal([owner.pid, owner.host], [process.pid, hostname()]);
  assert.throws(() => RunLock.acquire(dir), new RegExp(`being written by another run: process ${process.pid}, started .*\\(lock file .*lock\\)\\. Wait for it to finish or stop it \\(kill ${process.pid}\\), or choose another --out`));
  assert.throws(() => checkRunLock(dir), /being written by another run/);
  lock.release();
  assert.not.ok(existsSync(join(dir, LOCK_FILE)));
  RunLock.acquire(dir).release();
});

test('a lock whose process is gone is taken over; one from another host is refused naming the host', async () => {
  const dir = fresh('stale');
  const child = spawn(process.execPath, ['-e', '0']);
  const pid = child.pid!;
  await new Promise((r) => child.on('exit', r));
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, host: hostname(), started: 'earlier' }));
  checkRunLock(dir);
  const lock = RunLock.acquire(dir);
  assert.is((JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { pid: number }).pid, process.pid);
  lock.release();
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', started: 'earlier' }));
  assert.throws(() => RunLock.acquire(dir), /process 1 on host elsewhere, .*cannot be checked from this host.*if it is gone, delete .*lock/);
});

test.run();
