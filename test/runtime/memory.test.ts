/**
 * Memory stays flat over thousands of runs of a resident loop whose outputs are all disposed: no
 * OrtValue, binding, run options or memory info is left behind by a run (counted exactly), and the
 * process's RSS does not trend upwards (glibc's arenas make it move by a few MiB either way, so the
 * medians of the first and last samples are compared).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ortApi } from '../../src/runtime/ort/api.js';
import { TensorStore, liveGpuTensors } from '../../src/runtime/residency.js';
import { Session } from '../../src/runtime/session.js';
import { loopData, loopModel } from './helpers.js';

const RUNS = 2000;
const MiB = 1024 * 1024;

test(`RSS stays flat over ${RUNS} runs of a resident loop`, async () => {
  const s = await Session.create(loopModel(), { residentOutputs: 'all' }, 'loop');
  const data = loopData(5);
  const store = new TensorStore();
  store.set('w', await s.upload(data.w, [8, 8]));
  store.set('m', await s.upload(data.m, [8, 8]));
  const steps = async (n: number, from: number) => {
    for (let step = from; step < from + n; step++) {
      const r = await s.execute({ ...store.feeds(), x: data.batch(step), lr: Float32Array.of(1e-4) });
      await r.scalar('loss');
      store.advance(r);
      r.dispose();
    }
  };
  const v8 = await import('node:v8');
  const vm = await import('node:vm');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  await steps(1000, 0); // arenas, caches and koffi's worker threads reach their size
  const objects = ortApi().liveObjects();
  const rss: number[] = [];
  const t0 = performance.now();
  for (let k = 0; k < 8; k++) {
    await steps(RUNS / 8, 1000 + (k * RUNS) / 8);
    gc();
    rss.push(process.memoryUsage().rss / MiB);
  }
  const ms = performance.now() - t0;
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[1]!;
  const growth = median(rss.slice(-3)) - median(rss.slice(0, 3));
  console.log(`\n  ${RUNS} resident runs in ${ms.toFixed(0)} ms (${((ms / RUNS) * 1000).toFixed(0)} µs each): RSS ${rss.map((r) => r.toFixed(0)).join(' → ')} MiB`);
  assert.equal(ortApi().liveObjects(), objects, 'every ORT object a run creates is released');
  assert.ok(growth < 8, `RSS grew by ${growth.toFixed(1)} MiB`);
  store.dispose();
  assert.is(liveGpuTensors(), 0);
  await s.release();
});

test.run();
