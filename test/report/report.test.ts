/**
 * `multisiam report RUN` on one short tiny run shared by the file (6 steps, a metrics line per step,
 * checkpoints at steps 2, 4 and 6): the page is one self-contained HTML file with a chart per loss
 * term (raw points and the debiased EMA line), the schedules, throughput, data wait and phases; a
 * cluster map per checkpoint column (the initial tensors and the three checkpoints) and sample, each
 * a PNG over the view; the probe section once RUN/probe.json exists. Runs without metrics or without
 * a checkpoint, and bad flags, are refused naming the file or flag and what to do.
 */
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runProbe } from '../../src/eval/probe.js';
import { lineChartSvg } from '../../src/report/chart.js';
import { debiasedEma } from '../../src/train/metrics.js';
import { matchLabels } from '../../src/report/clusters.js';
import { cli } from '../cli/process.js';
import { scratch } from '../export/helpers.js';

const dir = scratch('report');
const run = join(dir, 'run');

test.before(async () => {
  const r = await cli(['train', '--data', 'synthetic:32', '--out', run, '--preset', 'tiny', '--steps', '6', '--checkpoint-every', '2', '--set', 'train.log_every=1', '--set', 'optim.warmup_steps=1', '--set', 'data.workers=1']);
  if (r.status !== 0) throw new Error(`train failed:\n${r.stderr}`);
});

/** Every `<img class="…">` of the page: its class, data-step and PNG bytes. */
function images(html: string): { cls: string; step: number | null; png: Buffer }[] {
  return [...html.matchAll(/<img class="([a-z-]+)"(?: data-step="(\d+)")? src="data:image\/png;base64,([A-Za-z0-9+/=]+)"/g)].map((m) => ({
    cls: m[1]!,
    step: m[2] === undefined ? null : Number(m[2]),
    png: Buffer.from(m[3]!, 'base64'),
  }));
}

/** The inline SVG of chart `id`. */
function chart(html: string, id: string): string {
  const m = new RegExp(`<figure class="chart" id="chart-${id}">\\s*(<svg[\\s\\S]*?</svg>)`).exec(html);
  assert.ok(m, `chart ${id} is on the page`);
  return m[1]!;
}

test('report RUN writes one self-contained page: charts of every term and schedule, a cluster map per checkpoint and sample, a note where the probe goes', async () => {
  const r = await cli(['report', run]);
  assert.is(r.status, 0, r.stderr);
  const path = join(run, 'report.html');
  assert.match(r.stdout, `wrote ${path}`);
  assert.match(r.stdout, '16 cluster maps');
  const html = readFileSync(path, 'utf8');
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  // Self-contained: no script, stylesheet or picture is fetched from anywhere.
  assert.not.match(html, /<(script|link|iframe)\b/);
  assert.not.match(html, /(src|href)="(?!data:)/);
  assert.not.match(html, /url\(/);

  for (const id of ['loss', 'loss_global', 'loss_dense', 'pairs_per_s', 'data_wait', 'grad_norm']) {
    const svg = chart(html, id);
    assert.is((svg.match(/<circle /g) ?? []).length, 6, `${id}: one raw point per logged step`);
    assert.match(svg, /<path class="smoothed" d="M[\d.]+ [\d.]+(L[\d.]+ [\d.]+){5}"/, `${id}: the smoothed line`);
  }
  for (const id of ['lr', 'momentum']) assert.match(chart(html, id), /<path class="line" d="M/, `${id}: a schedule, drawn as a line`);
  for (const phase of ['upload_ms', 'target_ms', 'step_ms']) assert.match(chart(html, 'phases'), `data-label="${phase}"`);

  const pictures = images(html);
  const maps = pictures.filter((p) => p.cls === 'cluster-map');
  assert.is(pictures.filter((p) => p.cls === 'view').length, 4, 'four sample views');
  assert.is(maps.length, 16, 'a cluster map per sample and column');
  assert.equal(maps.slice(0, 4).map((m) => m.step), [0, 2, 4, 6], 'columns: the initial tensors, then the checkpoints');
  for (const p of pictures) {
    const meta = await sharp(p.png).metadata();
    assert.equal([meta.format, meta.width, meta.height], ['png', 224, 224]);
  }
  assert.ok(maps.some((m) => !m.png.equals(pictures.find((p) => p.cls === 'view')!.png)), 'the maps are drawn over the views');
  assert.match(html, /<section id="probe">[\s\S]*No probe result in this run[\s\S]*multisiam eval probe --run/);
  assert.match(html, /<section id="configuration">[\s\S]*multisiam, byol framework[\s\S]*synthetic:32 \(32 images\)/);
});

test('--samples, --checkpoints and --out choose the grid and the file; the probe section shows RUN/probe.json', async () => {
  await runProbe({ run, data: 'synthetic:16', log: () => undefined });
  const out = join(dir, 'elsewhere.html');
  const r = await cli(['report', run, '--samples', '2', '--checkpoints', '2', '--out', out]);
  assert.is(r.status, 0, r.stderr);
  const html = readFileSync(out, 'utf8');
  const maps = images(html).filter((p) => p.cls === 'cluster-map');
  assert.equal(maps.map((m) => m.step), [0, 6, 0, 6], 'the first and the last column, for each of two samples');
  const probe = JSON.parse(readFileSync(join(run, 'probe.json'), 'utf8')) as { miou: number };
  assert.match(html, /<section id="probe">[\s\S]*<table class="probe">[\s\S]*probe\.json/);
  assert.ok(html.includes(`${(100 * probe.miou).toFixed(1)}%`), 'the probe mIoU is shown');
});

test('a run without metrics or without a checkpoint, a missing RUN and bad flags are refused by name', async () => {
  const bare = join(dir, 'bare');
  mkdirSync(bare);
  cpSync(join(run, 'bundle'), join(bare, 'bundle'), { recursive: true });
  let r = await cli(['report', bare]);
  assert.is(r.status, 1);
  assert.match(r.stderr, `${join(bare, 'metrics.jsonl')} is missing: the run has logged no step yet; train it`);
  cpSync(join(run, 'metrics.jsonl'), join(bare, 'metrics.jsonl'));
  r = await cli(['report', bare]);
  assert.is(r.status, 1);
  assert.match(r.stderr, `${join(bare, 'checkpoints')} holds no complete checkpoint, which the cluster maps need; train longer`);
  r = await cli(['report', join(dir, 'nowhere')]);
  assert.match(r.stderr, `RUN ${join(dir, 'nowhere')}: no such directory; pass the --out of a \`multisiam train\` run`);
  r = await cli(['report', run, '--samples', '17', '--out', join(dir, 'no.html')]);
  assert.match(r.stderr, "--samples 17: allowed: an integer in [1, 16] (the run's batch size)");
  r = await cli(['report', run, '--checkpoints', 'two']);
  assert.match(r.stderr, "--checkpoints 'two' is not an integer; allowed: an integer ≥ 1");
  assert.not.ok(existsSync(join(dir, 'no.html')), 'nothing written on a refusal');
});

test('the smoothed line has no start-up lag: it starts at the first value and stays on a constant series', () => {
  for (const v of debiasedEma([5, 5, 5, 5], 0.9)) assert.ok(Math.abs(v - 5) < 1e-12, `${v} is 5`);
  const ema = debiasedEma([1, 3], 0.5);
  assert.is(ema[0], 1);
  assert.is(ema[1], (0.5 * 0.5 * 1 + 0.5 * 3) / (1 - 0.25));
  const svg = lineChartSvg([{ label: 'lr', points: [[1, 0.1], [2, 0.2]] }], { title: 'x', yLabel: 'lr', style: 'line' });
  assert.not.match(svg, /<circle/);
  assert.match(svg, /<path class="line" d="M[\d.]+ [\d.]+L[\d.]+ [\d.]+"/);
});

test('cluster colours follow the previous column: labels renamed by largest overlap', () => {
  const previous = Int32Array.from([0, 0, 1, 1, 2, 2]);
  assert.equal([...matchLabels(previous, Int32Array.from([2, 2, 0, 0, 1, 1]), 3)], [0, 0, 1, 1, 2, 2]);
  // A cluster with no overlap takes the label left over.
  assert.equal([...matchLabels(previous, Int32Array.from([1, 1, 1, 1, 1, 0]), 3)], [0, 0, 0, 0, 0, 2]);
});

test.run();
