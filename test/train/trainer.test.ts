/**
 * The training loop end to end on the tiny preset (synthetic data, CPU): a 30-step run learns and
 * writes what it promises; a run killed with SIGKILL after a checkpoint and resumed ends where an
 * uninterrupted run ends; Ctrl-C stops cleanly with a checkpoint.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../src/methods/index.js';
import { readSafetensors } from '../../src/bundle/safetensors.js';
import { readMetrics } from '../../src/train/metrics.js';
import { prepareRun } from '../../src/train/run.js';
import { train } from '../../src/train/trainer.js';
import { ROOT } from '../graphs/torch.js';

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const quiet = { write: () => true, isTTY: false };
const silentLogger = { warn: () => undefined };
const scratch = mkdtempSync(join(tmpdir(), 'multisiam-train-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

function tiny(sets: string[]) {
  return resolveConfig({ preset: 'tiny', sets: ['data.workers=1', ...sets], onWarning: () => undefined });
}

test('a 30-step tiny run lowers the loss and writes metrics, plot and checkpoints', async () => {
  const out = join(scratch, 'thirty');
  const config = tiny(['train.steps=30', 'optim.warmup_steps=3', 'train.log_every=1', 'train.checkpoint_every=10', 'train.keep_checkpoints=2']);
  const summary = await train(await prepareRun({ data: 'synthetic:64', out, config }), { status: quiet, logger: silentLogger });
  assert.is(summary.lastStep, 30);
  const records = readMetrics(join(out, 'metrics.jsonl'));
  assert.is(records.length, 30);
  for (const key of ['step', 'epoch', 'loss', 'loss_global', 'loss_dense', 'lr', 'momentum', 'pairs_per_s', 'data_wait', 'iou_pass_rate', 'grad_norm']) {
    assert.ok(records.every((r) => typeof r[key] === 'number' && Number.isFinite(r[key] as number)), `metric '${key}' present and finite`);
  }
  const meanLoss = (rs: typeof records) => rs.reduce((s, r) => s + (r.loss as number), 0) / rs.length;
  const first = meanLoss(records.slice(0, 5));
  const last = meanLoss(records.slice(-5));
  console.log(`    loss over the first 5 steps ${first.toFixed(3)}, over the last 5 ${last.toFixed(3)}`);
  assert.ok(last < 0.8 * first, `loss fell from ${first} to ${last}`);
  const svg = readFileSync(join(out, 'loss.svg'), 'utf8');
  assert.match(svg, /<svg[^>]*>[\s\S]*<path [\s\S]*<\/svg>\s*$/);
  assert.ok((svg.match(/<circle/g) ?? []).length >= 30, 'a raw point per logged step');
  assert.equal(readdirSync(join(out, 'checkpoints')).sort(), ['step-000020', 'step-000030']);
});

function cliTrain(out: string, extra: string[]): ChildProcess {
  const args = [CLI, 'train', '--data', 'synthetic:64', '--out', out, '--preset', 'tiny', '--steps', '8', '--checkpoint-every', '4', '--set', 'optim.warmup_steps=2', '--set', 'data.workers=1', ...extra];
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

test('a run killed with SIGKILL after a checkpoint and resumed ends as an uninterrupted run', async () => {
  const straight = join(scratch, 'straight');
  const killed = join(scratch, 'killed');
  const reference = exited(cliTrain(straight, []));
  const victim = cliTrain(killed, []);
  const victimDone = exited(victim);
  await waitFor(join(killed, 'checkpoints', 'step-000004', 'params.safetensors'), victim);
  victim.kill('SIGKILL');
  assert.is((await victimDone).signal, 'SIGKILL');
  const resumed = await exited(cliTrain(killed, ['--resume']));
  assert.is(resumed.code, 0, resumed.stderr);
  assert.is((await reference).code, 0);
  const diff = maxDiff(join(straight, 'checkpoints', 'step-000008', 'params.safetensors'), join(killed, 'checkpoints', 'step-000008', 'params.safetensors'));
  console.log(`    resumed vs uninterrupted, max abs diff over all tensors at step 8: ${diff}`);
  assert.ok(diff <= 1e-6, `max abs diff ${diff}`);
  const steps = readMetrics(join(killed, 'metrics.jsonl')).map((r) => r.step);
  assert.equal(steps, [...new Set(steps)], 'no step logged twice after the resume');
});

test('Ctrl-C finishes the step, writes a checkpoint and exits cleanly; --resume continues', async () => {
  const out = join(scratch, 'interrupted');
  const child = cliTrain(out, []);
  const done = exited(child);
  await waitFor(join(out, 'metrics.jsonl'), child);
  child.kill('SIGINT');
  const { code, stderr } = await done;
  assert.is(code, 0, stderr);
  assert.match(stderr, /interrupted: finishing this step and writing a checkpoint/);
  const saved = readdirSync(join(out, 'checkpoints'));
  assert.is(saved.length, 1);
  assert.ok(Number(saved[0]!.slice(5)) < 8, `stopped early at ${saved[0]}`);
  const resumed = await exited(cliTrain(out, ['--resume']));
  assert.is(resumed.code, 0, resumed.stderr);
  assert.ok(existsSync(join(out, 'checkpoints', 'step-000008')));
});

test.run();
