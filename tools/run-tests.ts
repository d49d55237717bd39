/**
 * Runs the uvu suites compiled under dist/test and ends with the line CI reads:
 * `N passed, N failed`. Arguments: an optional file pattern (uvu's), e.g. `onnx/` or `ops\.test`.
 *
 *   npm test                      # everything
 *   npm test -- 'data/'           # only test files whose path matches
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const uvu = join(root, 'node_modules', 'uvu', 'bin.js');
// Only compiled test files (not their source maps), optionally narrowed by the caller's pattern.
const pattern = `^(?=.*(?:${process.argv[2] ?? ''})).*\\.test\\.js$`;

const run = spawnSync(process.execPath, [uvu, join(root, 'dist', 'test'), pattern], {
  cwd: root,
  env: { ...withoutForceColor(process.env), NO_COLOR: '1' },
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'inherit'],
  maxBuffer: 256 * 1024 * 1024,
});
const out = (run.stdout ?? '').replace(/\x1b\[[0-9;]*m/g, '');
process.stdout.write(out);

const count = (label: string): number | null => {
  const m = new RegExp(`${label}:\\s+(\\d+)`).exec(out);
  return m ? Number(m[1]) : null;
};
const total = count('Total');
const passed = count('Passed');
const skipped = count('Skipped') ?? 0;
if (total === null || passed === null) {
  // uvu died before its summary (a crash while loading a test file): count that as one failure.
  console.log(`\ntest runner stopped before its summary (exit status ${run.status}, signal ${run.signal ?? 'none'})`);
  console.log(`${passed ?? 0} passed, ${Math.max(1, (total ?? 0) - (passed ?? 0))} failed`);
  process.exit(1);
}
const failed = total - passed - skipped;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && run.status === 0 ? 0 : 1);

function withoutForceColor(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { FORCE_COLOR: _ignored, ...rest } = env;
  return rest;
}
