/**
 * The training loop end to end on the tiny preset (synthetic data, CPU): a 30-step run learns and
 * writes what it promises; checkpoints come by wall time as well as by steps; an extended run
 * follows the schedules of its new length; runs killed at random moments — SIGKILL, SIGHUP, SIGTERM,
 * during the bundle copy, a step or a save — and resumed each time end bit-identical to an
 * uninterrupted run; Ctrl-C stops cleanly with a checkpoint.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../src/methods/index.js';
import { readSafetensors } from '../../src/bundle/safetensors.js';
import { peakLearningRate } from '../../src/config/derived.js';
import { latestCheckpoint, listCheckpoints, loadCheckpoint } from '../../src/train/checkpoint.js';
import { readMetrics } from '../../src/train/metrics.js';
import { prepareRun } from '../../src/train/run.js';
import { learningRate } from '../../src/train/schedules.js';
import { train } from '../../src/train/trainer.js';
import { ROOT } from '../graphs/torch.js';

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const quiet = { write: () => true, isTTY: false };
const silentLogger = { warn: () => undefined };
const silent = { note: () => undefined };
const scratch = mkdtempSync(join(tmpdir(), 'multisiam-train-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

function tiny(sets: string[]) {
  return resolveConfig({ preset: 'tiny', sets: ['data.workers=1', ...sets], onWarning: () => undefined });
}

/** A fast tiny variant: batch 4 of 64² views, one worker. */
function small(sets: string[]) {
  return tiny(['train.batch_size=4', 'data.image_size=64', 'train.log_every=1', ...sets]);
}

test('a 30-step tiny run lowers the loss and writes metrics, plot, checkpoints, config and data records', async () => {
  const out = join(scratch, 'thirty');
  const config = tiny(['train.steps=30', 'optim.warmup_steps=3', 'train.log_every=1', 'train.checkpoint_every=10', 'train.keep_checkpoints=2']);
  const summary = await train(await prepareRun({ data: 'synthetic:64', out, config, ...silent }), { status: quiet, logger: silentLogger });
  assert.is(summary.lastStep, 30);
  assert.is(summary.stoppedBy, null);
  const records = readMetrics(join(out, 'metrics.jsonl'));
  assert.is(records.length, 30);
  for (const key of ['step', 'epoch', 'loss', 'loss_global', 'loss_dense', 'lr', 'momentum', 'pairs_per_s', 'data_wait', 'iou_pass_rate', 'grad_norm']) {
    assert.ok(records.every((r) => typeof r[key] === 'number' && Number.isFinite(r[key] as number)), `metric '${key}' present and finite`);
  }
  // --steps runs count epochs too: 64 images / batch 16 = 4 steps per epoch.
  assert.equal(records.filter((r) => [4, 5, 30].includes(r.step)).map((r) => r.epoch), [0, 1, 7]);
  const meanLoss = (rs: typeof records) => rs.reduce((s, r) => s + (r.loss as number), 0) / rs.length;
  const first = meanLoss(records.slice(0, 5));
  const last = meanLoss(records.slice(-5));
  console.log(`    loss over the first 5 steps ${first.toFixed(3)}, over the last 5 ${last.toFixed(3)}`);
  assert.ok(last < 0.8 * first, `loss fell from ${first} to ${last}`);
  const svg = readFileSync(join(out, 'loss.svg'), 'utf8');
  assert.match(svg, /<svg[^>]*>[\s\S]*<path [\s\S]*<\/svg>\s*$/);
  assert.ok((svg.match(/<circle/g) ?? []).length >= 30, 'a raw point per logged step');
  assert.equal(readdirSync(join(out, 'checkpoints')).sort(), ['step-000020', 'step-000030']);
  assert.equal(readdirSync(out).sort(), ['bundle', 'checkpoints', 'config.json', 'data.json', 'loss.svg', 'metrics.jsonl'], 'the lock is gone');
  assert.equal(JSON.parse(readFileSync(join(out, 'data.json'), 'utf8')).images, 64);
});

test('checkpoints come by wall time too (train.checkpoint_minutes), not only every checkpoint_every steps', async () => {
  const out = join(scratch, 'by-time');
  const config = small(['train.steps=4', 'optim.warmup_steps=1', 'train.checkpoint_every=0', 'train.checkpoint_minutes=0.00001', 'train.keep_checkpoints=10']);
  await train(await prepareRun({ data: 'synthetic:8', out, config, ...silent }), { status: quiet, logger: silentLogger });
  assert.equal(listCheckpoints(out).map((c) => c.step), [1, 2, 3, 4]);
});

test('an extended run follows, from its last step on, the schedules of a run planned with the new length', async () => {
  const out = join(scratch, 'extended');
  const sets = ['optim.warmup_steps=1', 'train.checkpoint_every=0'];
  await train(await prepareRun({ data: 'synthetic:8', out, config: small(['train.steps=3', ...sets]), ...silent }), { status: quiet, logger: silentLogger });
  const notes: string[] = [];
  const longer = small(['train.steps=6', ...sets]);
  const run = await prepareRun({ data: 'synthetic:8', out, config: longer, resume: true, note: (l) => notes.push(l) });
  assert.ok(notes.some((n) => /extending the run from 3 to 6 steps: from step 3 on, the learning rate and the EMA momentum follow the cosine schedules of a 6-step run/.test(n)), notes.join('\n'));
  await train(run, { status: quiet, logger: silentLogger });
  const lr = readMetrics(join(out, 'metrics.jsonl')).map((r) => [r.step, r.lr]);
  const planned = (total: number, step: number) => learningRate({ peakLr: peakLearningRate(longer), totalSteps: total, warmupSteps: 1, finalLr: longer.optim.final_lr }, step);
  // The metric at step s is the rate of the step that made it, index s − 1.
  assert.equal(lr, [1, 2, 3, 4, 5, 6].map((s) => [s, s <= 3 ? planned(3, s - 1) : planned(6, s - 1)]));
  assert.is(loadCheckpoint(latestCheckpoint(out)!).state.total_steps, 6);
});

function cliTrain(out: string, extra: string[], steps = 16): ChildProcess {
  const args = [CLI, 'train', '--data', 'synthetic:16', '--out', out, '--bundle', bundle, '--steps', String(steps), '--checkpoint-every', '2', '--set', 'data.workers=1', '--set', 'train.log_every=1', '--no-memory-check', ...extra];
  return spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
}

async function waitFor(path: string, child: ChildProcess): Promise<void> {
  while (!existsSync(path)) {
    if (child.exitCode !== null) throw new Error(`the run ended (status ${child.exitCode}) before ${path} appeared`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function maxDiff(a: string, b: string): number {
  const x = readSafetensors(a).tensors;
  const y = readSafetensors(b).tensors;
  assert.equal([...x.keys()].sort(), [...y.keys()].sort());
  let worst = 0;
  for (const [k, t] of x) {
    const u = y.get(k)!;
    for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(Number(t.data[i]) - Number(u.data[i])));
  }
  return worst;
}

// One small bundle for the CLI runs below (batch 4 of 64² views; warm-up 1 step).
const bundle = join(scratch, 'bundle');
const built = spawnSync(process.execPath, [CLI, 'build', '--preset', 'tiny', '--set', 'train.batch_size=4', '--set', 'data.image_size=64', '--set', 'optim.warmup_steps=1', '--set', 'train.steps=16', '--out', bundle], { encoding: 'utf8' });
if (built.status !== 0) throw new Error(`building the test bundle failed: ${built.stderr}`);

test('runs killed at random moments with SIGKILL, SIGHUP and SIGTERM and resumed each time end bit-identical to an uninterrupted run', async () => {
  const straight = join(scratch, 'straight');
  const killed = join(scratch, 'killed');
  const reference = exited(cliTrain(straight, []));
  // A fixed draw of signals and delays (ms after start): some land in the bundle copy or session
  // start-up, some in a step or a checkpoint save. Printed so a failure can be replayed.
  let seed = 20260917;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const signals: NodeJS.Signals[] = ['SIGKILL', 'SIGHUP', 'SIGTERM', 'SIGKILL', 'SIGTERM', 'SIGHUP'];
  const log: string[] = [];
  for (const signal of signals) {
    if (listCheckpoints(killed).at(-1)?.step === 16) break;
    const child = cliTrain(killed, existsSync(killed) ? ['--resume'] : []);
    const done = exited(child);
    const delay = Math.round(1500 + random() * 3000);
    await new Promise((r) => setTimeout(r, delay));
    if (child.exitCode === null) child.kill(signal);
    const r = await done;
    const at = listCheckpoints(killed).at(-1)?.step ?? 0;
    log.push(`${signal} after ${delay} ms → ${r.signal ?? `status ${r.code}`}, latest checkpoint ${at}`);
    // SIGHUP and SIGTERM once training has begun: finish the step, save, exit 0. Before (bundle
    // copy, session start-up) they end the process as usual: there is nothing to save yet.
    const training = /^\d+\/16 /m.test(r.stderr);
    if (signal !== 'SIGKILL' && (training || r.signal === null)) assert.is(r.code, 0, `a ${signal} finishes the step, saves and exits cleanly:\n${r.stderr}`);
  }
  console.log(`    ${log.join('\n    ')}`);
  if (listCheckpoints(killed).at(-1)?.step !== 16) {
    const resumed = await exited(cliTrain(killed, ['--resume']));
    assert.is(resumed.code, 0, resumed.stderr);
  }
  assert.is((await reference).code, 0);
  const diff = maxDiff(join(straight, 'checkpoints', 'step-000016', 'params.safetensors'), join(killed, 'checkpoints', 'step-000016', 'params.safetensors'));
  console.log(`    resumed vs uninterrupted, max abs diff over all tensors at step 16: ${diff}`);
  assert.ok(diff <= 1e-6, `max abs diff ${diff}`);
  const steps = readMetrics(join(killed, 'metrics.jsonl')).map((r) => r.step);
  assert.equal(steps, Array.from({ length: 16 }, (_, i) => i + 1), 'every step logged once after the resumes');
  assert.not.ok(existsSync(join(killed, 'lock')), 'no lock left behind');
});

test('Ctrl-C finishes the step, writes a checkpoint and exits cleanly; --resume continues', async () => {
  const out = join(scratch, 'interrupted');
  const child = cliTrain(out, [], 12);
  const done = exited(child);
  await waitFor(join(out, 'metrics.jsonl'), child);
  child.kill('SIGINT');
  const { code, stderr } = await done;
  assert.is(code, 0, stderr);
  assert.match(stderr, /interrupted by SIGINT: finishing this step and writing a checkpoint/);
  const saved = listCheckpoints(out).map((c) => c.step);
  assert.ok(saved.length >= 1 && saved.at(-1)! < 12, `stopped early at ${saved.join(', ')}`);
  const resumed = await exited(cliTrain(out, ['--resume'], 12));
  assert.is(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`resuming .*interrupted from step ${saved.at(-1)} of 12`));
  assert.ok(existsSync(join(out, 'checkpoints', 'step-000012')));
});

test.run();
