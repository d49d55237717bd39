/**
 * Runs the built CLI (`dist/src/cli/main.js`) as a child process for the tests that drive it
 * asynchronously (export, probe, report), so a test can await it while uvu's event loop stays free.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../graphs/torch.js';

export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
/** The environment without the colour variables (NO_COLOR beside FORCE_COLOR makes Node warn on stderr). */
export const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NO_COLOR' && k !== 'FORCE_COLOR'));

export interface CliResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `multisiam ARGS`: its exit status and output, killed after `timeoutMs`. */
export async function cli(args: readonly string[], timeoutMs = 300_000): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { env: ENV, timeout: timeoutMs });
    return { status: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { status: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}
