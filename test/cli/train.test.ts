/**
 * `multisiam train` on bad input and hostile situations (issue 9): each case stops (or carries on)
 * with its documented behaviour and a message naming the flag, folder, file, field or value; the
 * process always exits; nothing already written is damaged and nothing is left to block the next run.
 * The runs share one small bundle (tiny at batch 4 of 64² views), passed with --bundle.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { latestCheckpoint, listCheckpoints, loadCheckpoint } from '../../src/train/checkpoint.js';
import { readMetrics } from '../../src/train/metrics.js';
import { CONFIG } from '../../src/methods/index.js';
import { cudaProviderInstalled } from '../../src/runtime/providers.js';
import { ROOT } from '../graphs/torch.js';

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const scratch = mkdtempSync(join(tmpdir(), 'multisiam-cli-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

interface Result {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: string[], cwd = ROOT): Result {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000, cwd });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same, without blocking, so several commands can run side by side. */
function cliAsync(args: string[]): Promise<Result> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return exited(child);
}

function exited(child: ChildProcess): Promise<Result> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += String(d)));
  child.stderr?.on('data', (d) => (stderr += String(d)));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ status: code, stdout, stderr })));
}

const BUNDLE = join(scratch, 'bundle');
const built = cli(['build', '--preset', 'tiny', '--set', 'train.batch_size=4', '--set', 'data.image_size=64', '--out', BUNDLE]);
if (built.status !== 0) throw new Error(`building the test bundle failed: ${built.stderr}`);
/** Flags of a quick run on the shared bundle (its warm-up, tiny's 50 steps, is fitted to each run). */
const FAST = ['--bundle', BUNDLE, '--set', 'data.workers=1', '--no-memory-check'];

function train(out: string, extra: string[], data = 'synthetic:16'): Result {
  return cli(['train', '--data', data, '--out', out, ...FAST, ...extra]);
}

function trainChild(out: string, extra: string[]): ChildProcess {
  return spawn(process.execPath, [CLI, 'train', '--data', 'synthetic:16', '--out', out, ...FAST, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolves once `child`'s stderr has shown a line matching `pattern`. */
function stderrLine(child: ChildProcess, pattern: RegExp): Promise<void> {
  let seen = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      seen += String(d);
      if (pattern.test(seen)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`exited (status ${code}) before ${pattern}:\n${seen}`)));
  });
}

const snapshot = (dir: string): string[] => readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();

async function image(path: string, pipeline: Sharp): Promise<void> {
  await pipeline.toFile(path);
}

function noise(w: number, h: number, channels: 1 | 3 | 4): Sharp {
  const data = Buffer.alloc(w * h * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + (i >> 5) * 11) % 256;
  return sharp(data, { raw: { width: w, height: h, channels } });
}

test('every flag is checked against its type and range before anything is written, named in the message', async () => {
  const out = join(scratch, 'never');
  const t = (...args: string[]) => ['train', '--data', 'synthetic:16', '--out', out, ...FAST, ...args];
  const cases: [string[], RegExp][] = [
    [t('--steps', 'abc'), /--steps 'abc' is not an integer; allowed: an integer ≥ 1/],
    [t('--epochs', '0'), /--epochs 0 is out of range; allowed: an integer ≥ 1/],
    [t('--steps', '3', '--steps', '4'), /--steps is given 2 times \('3', '4'\); give it once/],
    [t('--seed', '1.5'), /--seed '1\.5' is not an integer; allowed: an integer in \[0, 4294967295\]/],
    [t('--checkpoint-every', '-1'), /--checkpoint-every -1 is out of range; allowed: an integer ≥ 0/],
    [t('--ep', 'tpu'), /ep.*tpu/s],
    [t('--steps', '10', '--set', 'optim.warmup_steps=20'), /config fields 'optim\.warmup_steps', 'train\.steps': warm-up of 20 steps is not shorter than the run of 10 steps/],
    [t('--set', 'kmeans.k=3'), /--set kmeans\.k=3: --bundle '.*bundle' fixes what its graphs compute, so kmeans\.k cannot change with it/],
    [['train', '--data', 'synthetic:16', '--out', out, '--preset', 'tiny', '--set', 'kmeans.k=0'], /config field 'kmeans\.k': 0 is out of range; allowed: integer ≥ 1/],
    [['train', '--data', 'synthetic:16', '--out', out], /choose a configuration: --preset tiny\|r18\|r50, --config FILE, or --bundle DIR/],
    [['synth', '--out', out, '--count', '2', '--seed', '1.5'], /--seed '1\.5' is not an integer/],
    [['synth', '--out', out, '--count', '0'], /--count 0 is out of range; allowed: an integer ≥ 1/],
    [['export', '--run', out, '--step', 'abc', '--format', 'onnx', '--out', join(out, 'x.onnx')], /--step 'abc' is not an integer; allowed: an integer ≥ 0/],
    [['build', '--preset', 'tiny', '--out', ''], /--out is empty/],
    [['config', '--field', 'kmeans.kk'], /--field 'kmeans\.kk' is not a config field or group; did you mean 'kmeans\.k'\?/],
    [['inspect', ''], /the directory is empty/],
  ];
  const before = snapshot(scratch);
  const results = await Promise.all(cases.map(([args]) => cliAsync(args)));
  results.forEach((r, i) => {
    assert.is(r.status, 1, `${cases[i]![0].join(' ')} should fail:\n${r.stderr}`);
    assert.match(r.stderr, cases[i]![1]);
  });
  assert.equal(snapshot(scratch), before, 'nothing written');
});

test('--out "" writes nothing into the current directory and the process exits', () => {
  const cwd = join(scratch, 'cwd');
  mkdirSync(cwd);
  const r = cli(['train', '--data', 'synthetic:16', '--out', '', ...FAST], cwd);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /--out is empty; allowed: a directory/);
  assert.equal(readdirSync(cwd), []);
});

test('an --out that cannot be created is named with the reason, and the process exits', () => {
  const readonly = join(scratch, 'readonly');
  mkdirSync(readonly, { mode: 0o555 });
  // root may write anywhere; /proc refuses new directories even to root (with ENOENT).
  const target = process.getuid?.() === 0 ? '/proc/multisiam-test/run' : join(readonly, 'run');
  const r = train(target, ['--steps', '2']);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /--out \S+run (cannot be created|is not writable).*(failed|not writable).*choose another --out/);
  assert.not.ok(existsSync(target));
});

test('an empty folder, a folder of only broken files and a dataset smaller than a batch stop before anything is written', async () => {
  const empty = join(scratch, 'empty');
  mkdirSync(empty);
  const broken = join(scratch, 'broken');
  mkdirSync(broken);
  writeFileSync(join(broken, 'a.png'), 'this is not a png');
  writeFileSync(join(broken, 'b.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]));
  const single = join(scratch, 'single');
  mkdirSync(single);
  await image(join(single, 'one.png'), noise(1, 1, 3).png());
  const cases: [string, RegExp][] = [
    [empty, /'.*empty' holds no images: looked recursively for \.jpg \.jpeg \.png/],
    [broken, /--data '.*broken': none of its 2 image file\(s\) could be decoded \(first: a\.png: .*\); give a folder with readable images/],
    [single, /--data '.*single' holds 1 image\(s\), fewer than train\.batch_size 4: every batch would repeat images\. Give at least 4 images, or a smaller batch/],
  ];
  for (const [data, message] of cases) {
    const out = join(scratch, 'run-bad-data');
    const r = train(out, ['--steps', '2'], data);
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.not.ok(existsSync(out), `nothing written for ${data}`);
  }
});

test('a folder mixing good, odd (grayscale, alpha, 16-bit, 1×1) and corrupt or truncated files trains on the readable ones, naming each bad file once', async () => {
  const dir = join(scratch, 'mixed');
  mkdirSync(dir);
  for (let i = 0; i < 2; i++) await image(join(dir, `good${i}.jpg`), noise(96, 64, 3).jpeg());
  await image(join(dir, 'gray.png'), noise(80, 60, 1).png());
  await image(join(dir, 'alpha.png'), noise(70, 90, 4).png());
  await image(join(dir, 'deep.png'), noise(64, 64, 3).png().toColourspace('rgb16'));
  await image(join(dir, 'one.png'), noise(1, 1, 3).png());
  await image(join(dir, 'small.webp'), noise(2, 3, 3).webp());
  writeFileSync(join(dir, 'corrupt.png'), 'this is not a png');
  const full = await noise(120, 90, 3).jpeg().toBuffer();
  writeFileSync(join(dir, 'truncated.jpg'), full.subarray(0, Math.floor(full.length / 3)));
  const out = join(scratch, 'run-mixed');
  const r = train(out, ['--steps', '2'], dir);
  assert.is(r.status, 0, r.stderr);
  for (const bad of ['corrupt.png', 'truncated.jpg']) {
    assert.is(r.stderr.split(bad).length - 1, 1, `${bad} named exactly once in:\n${r.stderr}`);
  }
  assert.match(r.stderr, /2 unreadable image\(s\) were skipped/);
  assert.not.match(r.stderr, /gray|alpha|deep|one\.png|small/, 'odd images decode');
  assert.ok(existsSync(join(out, 'checkpoints', 'step-000002')));
});

/** What a run leaves when it dies before its first complete checkpoint: bundle, config, metrics, and debris. */
function deadRun(out: string, what: 'metrics only' | 'died in the first save'): void {
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'metrics.jsonl'), '{"step":10,"loss":7.1}\n{"step":20,"lo');
  if (what === 'metrics only') return;
  cpSync(BUNDLE, join(out, 'bundle'), { recursive: true });
  writeFileSync(join(out, 'config.json'), readFileSync(join(BUNDLE, 'manifest.json'), 'utf8').slice(0, 100));
  mkdirSync(join(out, 'bundle.tmp-999999'));
  writeFileSync(join(out, 'bundle.tmp-999999', 'train_step.onnx'), 'partial');
  mkdirSync(join(out, 'checkpoints', '.tmp-step-000005-x1y2z3'), { recursive: true });
  writeFileSync(join(out, 'checkpoints', '.tmp-step-000005-x1y2z3', 'params.safetensors'), 'partial: the disk was full');
  // The lock of the process that died: its pid is gone, so the next run takes it over.
  const gone = spawnSync(process.execPath, ['-e', '0']).pid;
  writeFileSync(join(out, 'lock'), JSON.stringify({ pid: gone, host: hostname(), started: 'earlier' }));
}

// The two states the issue found: metrics but no checkpoint (the process then printed "already holds
// another run's metrics" and hung), and a death in the first save (ENOSPC, SIGKILL), where --resume
// said "no complete checkpoint, drop --resume" and without it "already holds a run; pass --resume".
for (const [what, resume] of [['metrics only', false], ['died in the first save', true]] as const) {
  test(`a run with no complete checkpoint (${what}) starts again from step 0 ${resume ? 'with' : 'without'} --resume, saying so, with its debris gone`, () => {
    const out = join(scratch, `dead-${what.replace(/ /g, '-')}`);
    deadRun(out, what);
    const r = train(out, ['--steps', '2', ...(resume ? ['--resume'] : [])]);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stderr, /holds a run that stopped before its first complete checkpoint; starting it again from step 0/);
    assert.equal(readdirSync(out).sort(), ['bundle', 'checkpoints', 'config.json', 'data.json', 'loss.svg', 'metrics.jsonl']);
    assert.equal(readdirSync(join(out, 'checkpoints')), ['step-000002']);
    assert.equal(readMetrics(join(out, 'metrics.jsonl')).map((m) => m.step), [2]);
  });
}

/** Mounts a tmpfs of `mb` MB at `dir` (root only); false where mounting is not allowed. */
function tmpfs(dir: string, mb: number, remount = false): boolean {
  mkdirSync(dir, { recursive: true });
  const options = `${remount ? 'remount,' : ''}size=${mb}m`;
  return spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]).status === 0;
}

test('a full disk: the bundle copy and the first checkpoint fail naming the path; with space freed, the same command starts again', () => {
  const disk = join(scratch, 'disk');
  if (!tmpfs(disk, 2)) {
    console.log('    (skipped: mounting a small tmpfs needs root)');
    return;
  }
  try {
    const out = join(disk, 'run');
    const copy = train(out, ['--steps', '10', '--checkpoint-every', '5']);
    assert.is(copy.status, 1, copy.stderr);
    assert.match(copy.stderr, /cannot write the training bundle \S+run\/bundle: no space left on the device \(ENOSPC\); free some space or choose an --out on another disk/);
    assert.equal(readdirSync(out), [], 'no partial bundle, no lock left');
    // Room for the bundle, not for a checkpoint (the 20 MB tmpfs with --checkpoint-every 5).
    const bundleMb = Math.ceil(readdirSync(BUNDLE).reduce((n, f) => n + statSync(join(BUNDLE, f)).size, 0) / 2 ** 20);
    assert.ok(tmpfs(disk, bundleMb + 3, true));
    const save = train(out, ['--steps', '10', '--checkpoint-every', '5']);
    assert.is(save.status, 1, save.stderr);
    assert.match(save.stderr, /checkpoint: could not write \S+step-000005 \(.*ENOSPC.*\); the previous checkpoints are untouched/);
    assert.is(latestCheckpoint(out), null);
    assert.ok(tmpfs(disk, 64, true));
    const again = train(out, ['--steps', '10', '--checkpoint-every', '5']);
    assert.is(again.status, 0, again.stderr);
    assert.match(again.stderr, /holds a run that stopped before its first complete checkpoint; starting it again from step 0/);
    assert.equal(listCheckpoints(out).map((c) => c.step), [5, 10]);
  } finally {
    spawnSync('umount', [disk]);
  }
});

test('--resume on a directory that does not exist says what to do', () => {
  const r = train(join(scratch, 'nowhere'), ['--steps', '2', '--resume']);
  assert.is(r.status, 1);
  assert.match(r.stderr, /--resume: run directory .*nowhere does not exist; drop --resume to start a new run there/);
});

test('two runs started together into one --out: one trains, the other is refused naming its pid, and the log is not interleaved', async () => {
  const out = join(scratch, 'two-writers');
  const a = trainChild(out, ['--steps', '200']);
  const b = trainChild(out, ['--steps', '200']);
  const [doneA, doneB] = [exited(a), exited(b)];
  const first = await Promise.race([doneA.then((r) => ({ r, loser: a, winner: b, winnerDone: doneB })), doneB.then((r) => ({ r, loser: b, winner: a, winnerDone: doneA }))]);
  assert.is(first.r.status, 1, first.r.stderr);
  assert.match(first.r.stderr, new RegExp(`--out \\S+two-writers is being written by another run: process ${first.winner.pid}, started .*\\. Wait for it to finish or stop it \\(kill ${first.winner.pid}\\)`));
  assert.not.match(first.r.stderr, /ENOTEMPTY|EEXIST/);
  await stderrLine(first.winner, /^\d+\/200 /m);
  first.winner.kill('SIGTERM');
  const won = await first.winnerDone;
  assert.is(won.status, 0, won.stderr);
  const steps = readMetrics(join(out, 'metrics.jsonl')).map((m) => m.step);
  assert.equal(steps, [...new Set(steps)].sort((x, y) => x - y), 'one writer');
  assert.not.ok(existsSync(join(out, 'lock')));
});

test('SIGHUP (a closed terminal) finishes the step, writes a checkpoint and exits cleanly (an explicit warm-up is kept)', async () => {
  const out = join(scratch, 'hangup');
  const child = trainChild(out, ['--steps', '200', '--set', 'optim.warmup_steps=100']);
  const done = exited(child);
  await stderrLine(child, /^1\/200 /m);
  child.kill('SIGHUP');
  const r = await done;
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /interrupted by SIGHUP: finishing this step and writing a checkpoint/);
  assert.match(r.stdout, /stopped by SIGHUP at step (\d+)\/200; checkpoint \S+step-0000\d\d; .*Continue with the same command and --resume/);
  assert.ok(latestCheckpoint(out) !== null && listCheckpoints(out).at(-1)!.step < 200);
  assert.not.match(r.stderr, /warm-up:/);
  assert.is(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).optim.warmup_steps, 100);
});

test('a closed output pipe (train … | head -1) finishes the step, writes a checkpoint and exits cleanly', async () => {
  const out = join(scratch, 'closed-pipe');
  const child = trainChild(out, ['--steps', '200']);
  const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await stderrLine(child, /^1\/200 /m);
  // What `head` does when it has its line: close its end. The run's next write fails with EPIPE.
  child.stderr!.destroy();
  child.stdout!.destroy();
  assert.is(await done, 0);
  const saved = listCheckpoints(out).map((c) => c.step);
  assert.ok(saved.length === 1 && saved[0]! < 200, `one checkpoint, before the end: ${saved.join(', ')}`);
  assert.not.ok(existsSync(join(out, 'lock')));
});

test('resume: other data is refused naming --data and both sources; a finished run is extended, and then says it is finished', () => {
  const out = join(scratch, 'extend');
  // Warm-up: the bundle's 50 steps (tiny's) do not fit 2 steps; fitted to a tenth of the run, and said.
  const short = train(out, ['--steps', '2']);
  assert.is(short.status, 0, short.stderr);
  assert.match(short.stderr, /warm-up: the 50 steps of bundle '\S+bundle' would be 2500% of this 2-step run; using 0 steps \(10%\)\. An explicit --set optim\.warmup_steps=N is used as given/);
  assert.is(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).optim.warmup_steps, 0);
  const before = snapshot(out).map((f) => [f, statSync(join(out, f)).mtimeMs]);
  const other = train(out, ['--steps', '4', '--resume'], 'synthetic:24');
  assert.is(other.status, 1);
  assert.match(other.stderr, /--resume: --data differs from the data run \S+extend was started on \(\S+data\.json\): now synthetic:24 \(24 images, file list \w+\), then synthetic:16 \(16 images, file list \w+\)\. Resume with --data synthetic:16, or start a new run with another --out/);
  const changed = train(out, ['--steps', '4', '--resume', '--set', 'train.seed=5']);
  assert.is(changed.status, 1);
  assert.match(changed.stderr, /--resume: the configuration given now differs from the one run \S+extend follows \(\S+config\.json\): train\.seed 0 \(run\) → 5 \(now\)\. Resume with the run's values/);
  assert.equal(snapshot(out).map((f) => [f, statSync(join(out, f)).mtimeMs]), before, 'the run is untouched');
  // The run's own configuration: no --bundle, --preset or --config needed to extend it.
  const extended = cli(['train', '--data', 'synthetic:16', '--out', out, '--resume', '--steps', '4']);
  assert.is(extended.status, 0, extended.stderr);
  assert.match(extended.stderr, /extending the run from 2 to 4 steps: from step 2 on, the learning rate and the EMA momentum follow the cosine schedules of a 4-step run/);
  assert.match(extended.stderr, /resuming \S+extend from step 2 of 4/);
  assert.ok(existsSync(join(out, 'checkpoints', 'step-000004')));
  assert.is(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).train.steps, 4);
  const again = cli(['train', '--data', 'synthetic:16', '--out', out, '--resume', '--steps', '4']);
  assert.is(again.status, 1);
  assert.match(again.stderr, /run \S+extend already finished its 4 steps; to train longer, extend it: the same command with --resume and a larger --steps \(e\.g\. --steps 8\)/);
  const fresh = train(out, ['--steps', '4']);
  assert.is(fresh.status, 1);
  assert.match(fresh.stderr, /already holds a run \(latest checkpoint \S+step-000004\); pass --resume to continue it/);
  const inspected = cli(['inspect', out]);
  assert.is(inspected.status, 0, inspected.stderr);
  assert.match(inspected.stdout, /^run \S+extend: latest checkpoint at step 4 of 4 \(checkpoints: 2, 4\); data synthetic:16 \(16 images\)\nits bundle, \S+extend\/bundle:\n/);
  assert.match(inspected.stdout, /parameters/);
});

test('non-finite losses stop the run advising --resume with a lower optim.base_lr, and --resume takes it and records it', () => {
  const out = join(scratch, 'diverge');
  const args = ['train', '--data', 'synthetic:16', '--out', out, '--preset', 'tiny', '--steps', '10', '--checkpoint-every', '1', '--no-memory-check', '--set', 'train.batch_size=4', '--set', 'data.image_size=64', '--set', 'data.workers=1', '--set', 'optim.warmup_steps=1', '--set', 'optim.name=sgd', '--set', 'optim.base_lr=1e30'];
  const r = cli(args);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /step \d+: non-finite .*step skipped, learning rate halved/);
  // Skipped steps keep the last finite weights, so every checkpoint is intact; the latest one is resumed.
  const stop = /step \d+: 5 consecutive non-finite steps; stopping without writing a checkpoint\. The latest checkpoint \(\S+step-0*(\d+)\) is intact: continue from it with a lower learning rate, e\.g\. the same command with --resume --set optim\.base_lr=1e\+29 \(now 1e\+30\)/.exec(r.stderr);
  assert.ok(stop, r.stderr);
  const from = Number(stop[1]);
  const resumed = cli([...args, '--resume', '--set', 'optim.base_lr=0.01']);
  assert.is(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`optim\\.base_lr 1e\\+30 → 0\\.01 from step ${from} on \\(recorded in the checkpoints\\)`));
  const state = loadCheckpoint(latestCheckpoint(out)!).state;
  assert.equal(state.changes, [{ step: from, field: 'optim.base_lr', from: 1e30, to: 0.01 }]);
  assert.is(loadCheckpoint(latestCheckpoint(out)!).step, 10);
});

test('a config file naming no preset is explained, and a run too big for this machine is refused before anything is written', () => {
  const file = join(scratch, 'no-preset.yaml');
  writeFileSync(file, 'kmeans:\n  k: 4\n');
  const out = join(scratch, 'too-big');
  const r = cli(['train', '--data', 'synthetic:300', '--out', out, '--config', file]);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /config file '\S+no-preset\.yaml' names no preset, so the fields it leaves out keep their defaults: this run is resnet50 ×1 at 224², heads 4096\/256, batch 256/);
  assert.match(r.stderr, /this run needs about [\d.]+ GB of memory on the CPU \(resnet50 ×1 at 224², batch 256: [\d.]+ GB of parameters and state, [\d.]+ GB of activations .*\), more than .* [\d.]+ GB\. Nothing was written\. To fit: lower train\.batch_size to \d+ or less/);
  assert.not.ok(existsSync(out));
});

test('an unavailable execution provider fails before anything is written, with the explanation first; --ep auto says which it chose', () => {
  if (!cudaProviderInstalled()) {
    const out = join(scratch, 'no-cuda');
    const r = train(out, ['--steps', '1', '--ep', 'cuda']);
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr.split('\n').find((l) => l.startsWith('multisiam: '))!, /^multisiam: execution provider 'cuda' is unavailable on this machine: the CUDA provider is not installed/);
    assert.not.ok(existsSync(out));
  }
  // The choice is said first, before any other check (here the data is refused next, so nothing runs).
  const auto = train(join(scratch, 'auto'), ['--steps', '1', '--ep', 'auto'], join(scratch, 'single'));
  const ours = auto.stderr.split('\n').filter((l) => l.startsWith('multisiam: '));
  assert.match(ours[0]!, /^multisiam: execution provider: (cuda|webgpu|cpu) \(--ep auto takes the first of cuda, webgpu, cpu that loads/);
});

test('help: every command has examples and its defaults, with no type label glued to the text; `config` lists every field', () => {
  for (const command of ['train', 'build', 'inspect', 'config', 'synth', 'setup', 'export']) {
    const r = cli([command, '--help']);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /Examples:/, `${command} --help has examples`);
    assert.not.match(r.stdout, /\S\[(string|number|boolean|array)\]/, `${command} --help: no glued type label`);
  }
  assert.match(cli(['train', '--help']).stdout, /data\.json \(created if missing\) \[required\]/);
  assert.match(cli(['train', '--help']).stdout, /multisiam config \[--preset P\]\s+\[--field F\]/);
  const all = cli(['config']);
  assert.is(all.status, 0, all.stderr);
  const fields = all.stdout.split('\n').filter((l) => /^[a-z_.0-9]+ = /.test(l));
  assert.equal(fields.map((l) => l.split(' = ')[0]), CONFIG.fields.map((f) => f.path), 'every field, in table order');
  assert.match(all.stdout, /^train\.checkpoint_minutes = 10 {4}\(number ≥ 0\)\n {4}also write a checkpoint once this many minutes/m);
  const one = cli(['config', '--preset', 'tiny', '--field', 'train.steps']);
  assert.match(one.stdout, /^train\.steps = 1000 {4}\(integer ≥ 0; default 0\)\n {4}run length in steps/);
});

test.run();
