/**
 * Runs happen on a worker thread: the event loop stays live during a long run, and runs of one
 * session are serialised in call order.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Session } from '../../src/runtime/session.js';
import { slowModel, stepModel } from './helpers.js';

test('a 5 ms timer keeps ticking while a long run is in flight', async () => {
  const s = await Session.create(slowModel(6), {}, 'slow');
  const x = new Float32Array(1024 * 1024).fill(1e-3);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const t0 = performance.now();
  const out = await s.run({ x, w: x });
  const ms = performance.now() - t0;
  clearInterval(timer);
  console.log(`\n  a ${ms.toFixed(0)} ms run: the 5 ms timer ticked ${ticks} times`);
  assert.ok(Number.isFinite((out['y']!.data as Float32Array)[0]));
  assert.ok(ms >= 50, `the run took ${ms.toFixed(0)} ms, too short to tell`);
  assert.ok(ticks >= 3, `only ${ticks} ticks in ${ms.toFixed(0)} ms: the run blocked the event loop`);
  await s.release();
});

test('runs of one session are serialised in call order, each with its own binding', async () => {
  const s = await Session.create(stepModel(), {}, 'step');
  const feed = (k: number) => ({ w: new Float32Array(6).fill(k), x: new Float32Array(6), lr: Float32Array.of(0), n: BigInt64Array.of(BigInt(k)) });
  const results = await Promise.all([1, 2, 3].map((k) => s.execute(feed(k))));
  assert.equal(results.map((r) => r.label), ["run 1 of 'step'", "run 2 of 'step'", "run 3 of 'step'"]);
  assert.equal(results.map((r) => Number((r.host('count') as BigInt64Array)[0])), [1, 2, 3]);
  for (const r of results) r.dispose();
  await s.release();
});

test.run();
