/**
 * Each baseline trains through the unchanged training loop (`train --set method=…`, synthetic
 * scenes, tiny preset, batch 16, CPU): one bundle, 30 steps, and the loss falls.
 *
 * PixPro runs with its defaults. The two MoCo-v2 baselines do not learn in 30 steps with theirs:
 * the loss first rises as real keys replace the random initial queue, and at initialisation the two
 * views of an image under MoCo-v2's augmentations are less alike than different scenes (mean cosine
 * of z 0.90 against 0.91), so the contrast starts at or above chance, 2·ln(1 + queue), and stays
 * there for far longer than 30 steps with momentum 0.999 and lr 0.03. So for them the test makes the
 * task learnable in 30 steps without touching what is computed: a queue of one step's keys (real
 * from step 2), key momentum 0.99, base lr 0.3, and easy views (crops of at least half the image,
 * no colour jitter, grayscale or blur). The loss is compared from the first step whose queue holds
 * no random keys.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../src/methods/index.js';
import { readMetrics } from '../../src/train/metrics.js';
import { prepareRun } from '../../src/train/run.js';
import { train } from '../../src/train/trainer.js';

const scratch = mkdtempSync(join(tmpdir(), 'multisiam-baselines-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

const EASY_VIEWS = ['data.min_crop_scale=0.5', ...[1, 2].flatMap((v) => [`data.view${v}.jitter_p=0`, `data.view${v}.grayscale_p=0`, `data.view${v}.blur_p=0`])];
const LEARNABLE_CONTRAST = ['moco.queue_size=32', 'moco.momentum=0.99', 'optim.base_lr=0.3', ...EASY_VIEWS];

/**
 * `from`: the first step compared (1-based); `drop`: how much the mean loss of the last 5 steps must
 * be below that of the 5 steps from `from` — 5% of chance for the contrasts (2·ln 33 ≈ 7.0 for the
 * sum of two directions, DenseCL's 0.5/0.5 weights keep that scale), an eighth of the range [−4, 4]
 * of PixPro's two directions of −2·cos.
 */
const CASES = [
  { method: 'mocov2', sets: LEARNABLE_CONTRAST, from: 2, drop: 0.35 },
  { method: 'densecl', sets: LEARNABLE_CONTRAST, from: 2, drop: 0.35 },
  { method: 'pixpro', sets: [], from: 1, drop: 1 },
] as const;

for (const c of CASES) {
  test(`${c.method}: 30 tiny steps lower the loss`, async () => {
    const config = resolveConfig({
      preset: 'tiny',
      sets: [`method=${c.method}`, 'data.workers=1', 'train.steps=30', 'optim.warmup_steps=3', 'train.log_every=1', 'train.checkpoint_every=0', ...c.sets],
      onWarning: () => undefined,
    });
    const out = join(scratch, c.method);
    const summary = await train(await prepareRun({ data: 'synthetic:64', out, config }), { status: { write: () => true, isTTY: false }, logger: { warn: () => undefined } });
    assert.is(summary.lastStep, 30);
    const records = readMetrics(join(out, 'metrics.jsonl'));
    assert.is(records.length, 30);
    assert.ok(records.every((r) => Number.isFinite(r.loss as number)), 'every loss is finite');
    const mean = (rs: typeof records) => rs.reduce((s, r) => s + (r.loss as number), 0) / rs.length;
    const first = mean(records.slice(c.from - 1, c.from + 4));
    const last = mean(records.slice(-5));
    console.log(`    ${c.method}: loss over steps ${c.from}–${c.from + 4} ${first.toFixed(3)}, over the last 5 ${last.toFixed(3)}`);
    assert.ok(last <= first - c.drop, `loss fell from ${first} to ${last}, less than ${c.drop}`);
  });
}

test.run();
