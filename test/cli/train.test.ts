/**
 * `multisiam train` on bad input: each case stops (or carries on) with its documented behaviour and
 * a message naming the folder, file, field or value, and nothing already written is damaged.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from '../graphs/torch.js';

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const scratch = mkdtempSync(join(tmpdir(), 'multisiam-cli-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

const SHORT = ['--preset', 'tiny', '--steps', '2', '--set', 'optim.warmup_steps=1', '--set', 'data.workers=1', '--set', 'train.batch_size=4'];

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function image(path: string, pipeline: Sharp): Promise<void> {
  await pipeline.toFile(path);
}

function noise(w: number, h: number, channels: 1 | 3 | 4): Sharp {
  const data = Buffer.alloc(w * h * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + (i >> 5) * 11) % 256;
  return sharp(data, { raw: { width: w, height: h, channels } });
}

test('an empty folder stops before anything is written, naming the folder and the extensions', () => {
  const empty = join(scratch, 'empty');
  mkdirSync(empty);
  const out = join(scratch, 'run-empty');
  const r = cli(['train', '--data', empty, '--out', out, ...SHORT]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /'.*empty' holds no images: looked recursively for \.jpg \.jpeg \.png/);
  assert.not.ok(existsSync(out), 'no run directory created');
});

test('a folder mixing good, corrupt and truncated files trains on the good ones, naming each bad file once', async () => {
  const dir = join(scratch, 'mixed');
  mkdirSync(dir);
  for (let i = 0; i < 4; i++) await image(join(dir, `good${i}.jpg`), noise(96, 64, 3).jpeg());
  writeFileSync(join(dir, 'corrupt.png'), 'this is not a png');
  const full = await noise(120, 90, 3).jpeg().toBuffer();
  writeFileSync(join(dir, 'truncated.jpg'), full.subarray(0, Math.floor(full.length / 3)));
  const r = cli(['train', '--data', dir, '--out', join(scratch, 'run-mixed'), ...SHORT]);
  assert.is(r.status, 0, r.stderr);
  for (const bad of ['corrupt.png', 'truncated.jpg']) {
    assert.is(r.stderr.split(bad).length - 1, 1, `${bad} named exactly once in:\n${r.stderr}`);
  }
  assert.match(r.stderr, /2 unreadable image\(s\) were skipped/);
});

test('grayscale, alpha, 16-bit and tiny images decode and train', async () => {
  const dir = join(scratch, 'odd');
  mkdirSync(dir);
  await image(join(dir, 'gray.png'), noise(80, 60, 1).png());
  await image(join(dir, 'alpha.png'), noise(70, 90, 4).png());
  await image(join(dir, 'deep.png'), noise(64, 64, 3).png().toColourspace('rgb16'));
  await image(join(dir, 'one.png'), noise(1, 1, 3).png());
  await image(join(dir, 'small.webp'), noise(2, 3, 3).webp());
  const out = join(scratch, 'run-odd');
  const r = cli(['train', '--data', dir, '--out', out, ...SHORT]);
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stderr, /skipped/);
  assert.ok(existsSync(join(out, 'checkpoints', 'step-000002')));
});

test('--resume with no checkpoint says what to do', () => {
  const r = cli(['train', '--data', 'synthetic:16', '--out', join(scratch, 'never'), '--resume', ...SHORT]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /--resume: run directory .*never does not exist\. Drop --resume to start a new run/);
});

test('an invalid config value stops before anything is written, naming field, value and what is allowed', () => {
  const out = join(scratch, 'run-bad-config');
  const r = cli(['train', '--data', 'synthetic:16', '--out', out, ...SHORT, '--set', 'kmeans.k=0']);
  assert.is(r.status, 1);
  assert.match(r.stderr, /config field 'kmeans\.k': 0 is out of range; allowed: integer ≥ 1/);
  assert.not.ok(existsSync(out));
});

test('resuming with a different configuration is refused and leaves the run as it was', () => {
  const out = join(scratch, 'run-keep');
  assert.is(cli(['train', '--data', 'synthetic:16', '--out', out, ...SHORT]).status, 0);
  const before = readdirSync(join(out, 'checkpoints')).map((d) => [d, statSync(join(out, 'checkpoints', d, 'params.safetensors')).mtimeMs]);
  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8');
  const r = cli(['train', '--data', 'synthetic:16', '--out', out, ...SHORT, '--set', 'kmeans.k=3', '--resume']);
  assert.is(r.status, 1);
  assert.match(r.stderr, /--resume: the configuration given now differs/);
  assert.equal(readdirSync(join(out, 'checkpoints')).map((d) => [d, statSync(join(out, 'checkpoints', d, 'params.safetensors')).mtimeMs]), before);
  assert.is(readFileSync(join(out, 'metrics.jsonl'), 'utf8'), metrics);
  const again = cli(['train', '--data', 'synthetic:16', '--out', out, ...SHORT]);
  assert.is(again.status, 1);
  assert.match(again.stderr, /already holds a run; pass --resume/);
});

test('non-finite losses are skipped with the learning rate halved, then the run stops with the step named', () => {
  const out = join(scratch, 'run-diverge');
  const r = cli(['train', '--data', 'synthetic:16', '--out', out, '--preset', 'tiny', '--steps', '12', '--set', 'optim.warmup_steps=1', '--set', 'data.workers=1', '--set', 'train.batch_size=4', '--set', 'optim.base_lr=1e30', '--set', 'optim.name=sgd']);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /step \d+: non-finite .*step skipped, learning rate halved/);
  assert.match(r.stderr, /step \d+: 5 consecutive non-finite steps; stopping/);
});

test.run();
