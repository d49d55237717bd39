import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatStatus, lossCurveSvg, type MetricRecord, MetricsLog, metricsPath, niceTicks, readMetrics, StatusLine, type StatusFields, writeLossPlot } from '../../src/train/metrics.js';

const PYTHON = '/usr/bin/python3';

function withRun(body: (run: string) => void): () => void {
  return () => {
    const run = mkdtempSync(join(tmpdir(), 'metrics-'));
    try {
      body(run);
    } finally {
      rmSync(run, { recursive: true, force: true });
    }
  };
}

const record = (step: number): MetricRecord => ({ step, loss: 4 - step / 100, loss_global: 2 - step / 200, loss_dense: 2 - step / 200, lr: 0.25 });

test('one parseable JSON object per line, written as it is appended; NaN stays visible', withRun((run) => {
  const log = MetricsLog.open(run);
  log.append(record(1));
  log.append({ step: 2, loss: NaN, loss_dense: Infinity, note: 'skipped: non-finite loss' });
  // Already on disk before close: nothing is buffered in the process.
  const lines = readFileSync(metricsPath(run), 'utf8').trimEnd().split('\n');
  assert.is(lines.length, 2);
  assert.equal(JSON.parse(lines[0]!), record(1));
  assert.equal(JSON.parse(lines[1]!), { step: 2, loss: 'NaN', loss_dense: 'Infinity', note: 'skipped: non-finite loss' });
  log.close();
  assert.throws(() => log.append(record(3)), /metrics log is closed/);
  assert.throws(() => MetricsLog.open(run), /already holds another run's metrics: pass --resume to continue that run, or choose another --out/);
}));

test('resume drops the lines after the resumed step and a torn last line', withRun((run) => {
  const log = MetricsLog.open(run);
  for (let s = 10; s <= 50; s += 10) log.append(record(s));
  log.close();
  // A crash mid-write leaves half a line.
  writeFileSync(metricsPath(run), readFileSync(metricsPath(run), 'utf8') + '{"step": 60, "lo');
  assert.equal(readMetrics(metricsPath(run)).map((r) => r.step), [10, 20, 30, 40, 50]);
  const resumed = MetricsLog.open(run, 30);
  assert.equal(readMetrics(metricsPath(run)).map((r) => r.step), [10, 20, 30]);
  resumed.append(record(40));
  resumed.close();
  assert.equal(readMetrics(metricsPath(run)), [record(10), record(20), record(30), record(40)]);
  writeFileSync(metricsPath(run), '{"step": 1}\nnot json\n{"step": 2}\n');
  assert.throws(() => readMetrics(metricsPath(run)), /metrics\.jsonl:2: not a JSON object/);
}));

test('nice ticks', () => {
  assert.equal(niceTicks(0, 1000), [0, 200, 400, 600, 800, 1000]);
  assert.equal(niceTicks(0.12, 0.61), [0.2, 0.3, 0.4, 0.5, 0.6]);
  assert.equal(niceTicks(3, 3), [3]);
});

/** A strict-enough well-formedness check: balanced tags, quoted attributes, escaped text. */
function checkXml(svg: string): void {
  const body = svg.replace(/^<\?xml[^>]*\?>\s*/, '');
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<&]*")*)\s*(\/?)>|([^<]+)/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while ((m = tag.exec(body))) {
    at = tag.lastIndex;
    if (m[5] !== undefined) {
      assert.not.match(m[5], /&(?!#\d+;|amp;|lt;|gt;|quot;|apos;)|>/, 'text must be escaped');
    } else if (m[1]) assert.is(stack.pop(), m[2], `closing </${m[2]}>`);
    else if (!m[4]) stack.push(m[2]!);
  }
  assert.is(at, body.length, `unparsed at ${body.slice(at, at + 40)}`);
  assert.equal(stack, []);
}

test('loss plot: well-formed standalone SVG with the three series, axes and legend', withRun((run) => {
  const log = MetricsLog.open(run);
  for (let s = 0; s <= 300; s += 3) log.append({ ...record(s), loss: 4 * Math.exp(-s / 100) + 0.1 * Math.sin(s) });
  log.append({ step: 303, loss: NaN });
  log.close();
  const svgPath = join(run, 'loss.svg');
  writeLossPlot(metricsPath(run), svgPath, 'run <a & b>');
  const svg = readFileSync(svgPath, 'utf8');
  checkXml(svg);
  assert.match(svg, '<title>run &#60;a &#38; b&#62;</title>');
  for (const key of ['loss', 'loss_global', 'loss_dense']) {
    const group = new RegExp(`<g id="series-${key}">\\n<g class="raw"[^>]*>((?:<circle [^>]*/>)*)</g>\\n<path class="smoothed" d="M[^"]*"`).exec(svg);
    assert.ok(group, `series ${key}`);
    assert.is(group![1]!.match(/<circle/g)!.length, 101, `${key}: every finite point drawn (NaN skipped)`);
    assert.match(svg, `>${key}</text>`);
  }
  for (const label of ['>0<', '>100<', '>200<', '>300<', '>step<', '>loss<']) assert.match(svg, label);
  if (existsSync(PYTHON)) {
    const script = 'import sys, xml.etree.ElementTree as ET\nr = ET.parse(sys.argv[1]).getroot()\nns = "{http://www.w3.org/2000/svg}"\nprint(" ".join(g.get("id") for g in r.iter(ns + "g") if (g.get("id") or "").startswith("series-")))';
    const py = spawnSync(PYTHON, ['-c', script, svgPath], { encoding: 'utf8' });
    assert.is(py.status, 0, py.stderr);
    assert.is(py.stdout.trim(), 'series-loss series-loss_global series-loss_dense');
  }
  // An empty log still gives a valid picture; huge logs are thinned to 2000 raw points per series.
  checkXml(lossCurveSvg([]));
  const big = lossCurveSvg(Array.from({ length: 200_000 }, (_, s) => ({ step: s, loss: 1 / (1 + s) })));
  checkXml(big);
  assert.is(big.match(/<circle/g)!.length, 2000);
}));

const fields: StatusFields = { step: 250, totalSteps: 1000, epoch: 3, loss: 3.14159, terms: { global: 1.5, dense: 1.64159 }, lr: 0.25, momentum: 0.9961234, pairsPerSec: 48.25, dataWait: 0.031 };

test('status line: step, loss, throughput and ETA first, then epoch, lr, momentum, data wait, terms; fitted to a width by dropping from the end', () => {
  assert.is(formatStatus(fields, 3725), '250/1000 (25.0%)  loss 3.1416  48.3 pairs/s  ETA 1:02:05  epoch 3  lr 2.50e-1  m 0.99612  wait 3%  (g 1.5000 d 1.6416)');
  assert.is(formatStatus({ ...fields, terms: {} }, null), '250/1000 (25.0%)  loss 3.1416  48.3 pairs/s  ETA ?  epoch 3  lr 2.50e-1  m 0.99612  wait 3%');
  assert.is(formatStatus(fields, 3725, 59), '250/1000 (25.0%)  loss 3.1416  48.3 pairs/s  ETA 1:02:05');
  assert.is(formatStatus(fields, 3725, 40), '250/1000 (25.0%)  loss 3.1416');
  assert.is(formatStatus(fields, 3725, 10), '250/1000 (');
});

test('status: one redrawn line on a TTY, fitted to its width; plain lines otherwise at the first two updates, every 30 s and the last', () => {
  let t = 0;
  const tty = { out: '', isTTY: true, columns: 60, write(s: string) { this.out += s; } };
  const bar = new StatusLine(tty, 30_000, () => t);
  for (let step = 100; step <= 1000; step += 100) {
    bar.update({ ...fields, step });
    t += 1000;
  }
  bar.finish();
  const frames = tty.out.split('\r\x1b[2K').filter(Boolean);
  assert.is(frames.length, 10);
  assert.ok(frames.every((f) => f.replace(/\n$/, '').length <= 59 && !f.slice(0, -1).includes('\n')));
  assert.match(frames[1]!, /^200\/1000 \(20\.0%\)  loss 3\.1416  48\.3 pairs\/s  ETA 0:00:08$/);
  assert.ok(tty.out.endsWith('\n'));
  const plain = { out: '', write(s: string) { this.out += s; } };
  t = 0;
  const log = new StatusLine(plain, 30_000, () => t);
  for (let step = 1; step <= 1000; step += 1) {
    log.update({ ...fields, step });
    t += 100; // 10 steps per second
  }
  const lines = plain.out.trimEnd().split('\n');
  // Step 1 (alive), step 2 (first ETA), then every 30 s (300 steps), then the last step.
  assert.equal(lines.map((l) => l.split(' ')[0]), ['1/1000', '2/1000', '302/1000', '602/1000', '902/1000', '1000/1000']);
  assert.match(lines[1]!, /ETA 0:01:40/);
  assert.ok(!plain.out.includes('\r'));
});

test.run();
