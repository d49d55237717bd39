import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkpointDir, latestCheckpoint, listCheckpoints, loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { f32, type TensorMap } from '../../src/bundle/safetensors.js';

const tensorsFor = (step: number): TensorMap =>
  new Map([
    ['conv1.weight', f32(Float32Array.of(step, step + 0.5, -step), [3])],
    ['opt.step', { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(step)) }],
  ]);

function withRun(body: (run: string) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const run = mkdtempSync(join(tmpdir(), 'ckpt-'));
    try {
      await body(run);
    } finally {
      rmSync(run, { recursive: true, force: true });
    }
  };
}

test('save → load round trip of tensors and loop state', withRun((run) => {
  const state = { epoch: 2, rng: [1, 2, 3, 4], queue_pointer: 17, schedule: { lr: 0.25 }, config_hash: 'abc123' };
  const dir = saveCheckpoint(run, 123, tensorsFor(123), state, { keep: 3 });
  assert.is(dir, join(run, 'checkpoints', 'step-000123'));
  assert.equal(readdirSync(dir).sort(), ['params.safetensors', 'state.json']);
  const doc = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
  assert.is(doc.format_version, 1);
  const ck = loadCheckpoint(dir);
  assert.is(ck.step, 123);
  assert.equal(ck.state, state);
  assert.equal(Array.from(ck.tensors.get('conv1.weight')!.data as Float32Array), [123, 123.5, -123]);
  assert.is((ck.tensors.get('opt.step')!.data as BigInt64Array)[0], 123n);
}));

test('keeps the last K, oldest removed only after the new one is in place; same step is replaced', withRun((run) => {
  for (const step of [10, 20, 30, 40]) saveCheckpoint(run, step, tensorsFor(step), { step }, { keep: 2 });
  assert.equal(listCheckpoints(run).map((c) => c.step), [30, 40]);
  assert.is(latestCheckpoint(run), checkpointDir(run, 40));
  saveCheckpoint(run, 40, tensorsFor(41), { again: true }, { keep: 2 });
  assert.equal(listCheckpoints(run).map((c) => c.step), [30, 40]);
  assert.equal(loadCheckpoint(checkpointDir(run, 40)).state, { again: true });
  assert.equal(readdirSync(join(run, 'checkpoints')).sort(), ['step-000030', 'step-000040']);
  // Steps beyond 6 digits still sort by number, not by name.
  saveCheckpoint(run, 1_000_000, tensorsFor(0), {}, { keep: 2 });
  assert.equal(listCheckpoints(run).map((c) => c.step), [40, 1_000_000]);
}));

test('a half-written temp dir is ignored by latest and removed by the next save', withRun((run) => {
  saveCheckpoint(run, 100, tensorsFor(100), { ok: true }, { keep: 5 });
  const debris = join(run, 'checkpoints', '.tmp-step-000200-x1y2z3');
  mkdirSync(debris);
  writeFileSync(join(debris, 'params.safetensors'), Buffer.alloc(100));
  assert.is(latestCheckpoint(run), checkpointDir(run, 100));
  assert.is(loadCheckpoint(latestCheckpoint(run)!).step, 100);
  saveCheckpoint(run, 300, tensorsFor(300), {}, { keep: 5 });
  assert.not.ok(existsSync(debris));
  assert.equal(listCheckpoints(run).map((c) => c.step), [100, 300]);
}));

test('a failed save leaves no debris and the previous checkpoint intact', withRun((run) => {
  saveCheckpoint(run, 5, tensorsFor(5), { n: 5 }, { keep: 1 });
  const bad: TensorMap = new Map([['w', f32(new Float32Array(3), [4])]]);
  assert.throws(() => saveCheckpoint(run, 6, bad, {}, { keep: 1 }), /could not write .*step-000006 .*tensor 'w' has shape \[4\] but 3 values.*previous checkpoints are untouched/);
  assert.equal(readdirSync(join(run, 'checkpoints')), ['step-000005']);
  assert.equal(loadCheckpoint(latestCheckpoint(run)!).state, { n: 5 });
}));

test('a writer killed at an arbitrary moment never leaves a visible broken checkpoint', withRun(async (run) => {
  // The child saves ever-larger checkpoints (keep 2) in a loop until SIGKILL lands mid-write.
  const module = fileURLToPath(new URL('../../src/train/checkpoint.js', import.meta.url));
  const safetensors = fileURLToPath(new URL('../../src/bundle/safetensors.js', import.meta.url));
  const code = `
    const { saveCheckpoint } = await import(${JSON.stringify(module)});
    const { f32 } = await import(${JSON.stringify(safetensors)});
    for (let step = 1; ; step++) {
      const w = new Float32Array(2_000_000).fill(step);
      saveCheckpoint(${JSON.stringify(run)}, step, new Map([['w', f32(w, [w.length])]]), { step }, { keep: 2 });
      if (step === 2) process.stdout.write('ready\\n');
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  await new Promise((r) => setTimeout(r, 150));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const complete = listCheckpoints(run);
  assert.ok(complete.length >= 1 && complete.length <= 3, `found ${complete.length} checkpoints`);
  for (const c of complete) {
    const ck = loadCheckpoint(c.dir);
    assert.equal(ck.state, { step: c.step });
    const w = ck.tensors.get('w')!.data as Float32Array;
    assert.ok(w.length === 2_000_000 && w[0] === c.step && w[w.length - 1] === c.step);
  }
  assert.is(loadCheckpoint(latestCheckpoint(run)!).step, complete.at(-1)!.step);
}));

test('no checkpoint is null, and unreadable checkpoints say what to do', withRun((run) => {
  assert.is(latestCheckpoint(join(run, 'nope')), null);
  assert.is(latestCheckpoint(run), null);
  const dir = saveCheckpoint(run, 7, tensorsFor(7), {}, { keep: 1 });
  const state = join(dir, 'state.json');
  writeFileSync(state, JSON.stringify({ format: 'multisiam-checkpoint', format_version: 99, step: 7, state: {} }));
  assert.throws(() => loadCheckpoint(dir), /state\.json: format_version 99 is not the 1 this multisiam reads/);
  writeFileSync(state, JSON.stringify({ format: 'multisiam-checkpoint', format_version: 1, step: 8, state: {} }));
  assert.throws(() => loadCheckpoint(dir), /step 8 does not match the directory name/);
  writeFileSync(state, '{"format": "multisi');
  assert.throws(() => loadCheckpoint(dir), /state\.json: cannot read/);
}));

test.run();
