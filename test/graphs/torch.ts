/** Running the PyTorch references under tools/ from tests (Debian's PyTorch at /usr/bin/python3). */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PYTHON = '/usr/bin/python3';
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Why PyTorch cross-checks cannot run here, or null when they can. */
export function torchUnavailable(): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing`;
  const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  return probe.status === 0 ? null : `PyTorch is not installed for ${PYTHON} (apt-get install python3-torch python3-torchvision)`;
}

/** Runs a tools/ script with /usr/bin/python3 and throws with its stderr when it fails. */
export function runTool(script: string, args: readonly string[], timeoutMs = 300_000): string {
  const r = spawnSync(PYTHON, [join(ROOT, 'tools', script), ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`tools/${script} failed (status ${r.status}, signal ${r.signal ?? 'none'}):\n${r.stderr}`);
  return r.stdout;
}
