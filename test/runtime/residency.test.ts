/**
 * Residents: upload, write in place, readMany, outputs written into preallocated residents, the
 * CUDA-graph feeding discipline (checked on every provider, so here on the CPU), and the GC safety
 * net. GPU cases run on WebGPU where a Vulkan adapter exists (lavapipe in CI).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FeedError, ResidencyError } from '../../src/runtime/errors.js';
import { type Resident, TensorStore, liveGpuTensors, readMany } from '../../src/runtime/residency.js';
import { Session } from '../../src/runtime/session.js';
import { loopData, loopModel, rejects, stepModel, webgpuSession } from './helpers.js';

const feeds = () => ({ w: Float32Array.of(1, 2, 3, 4, 5, 6), x: new Float32Array(6).fill(1), lr: Float32Array.of(0.5), n: BigInt64Array.of(7n) });

test('upload() makes a resident in the session memory; write() overwrites it in place; readMany() reads a set', async () => {
  const s = await Session.create(stepModel(), {}, 'step');
  const w = await s.upload(Float32Array.of(1, 2, 3, 4, 5, 6), [2, 3]);
  const flags = await s.upload(Uint8Array.of(1, 0), [2], 'bool');
  assert.equal([w.memory, w.onDevice, w.dtype, w.dims, flags.dtype], ['host', false, 'float32', [2, 3], 'bool']);
  await w.write(Float32Array.of(6, 5, 4, 3, 2, 1));
  assert.equal(Array.from(w.host() as Float32Array), [6, 5, 4, 3, 2, 1]);
  const r = await s.execute({ ...feeds(), w });
  assert.equal(Array.from(r.host('next.w') as Float32Array), [6.5, 5.5, 4.5, 3.5, 2.5, 1.5]);
  r.dispose();
  assert.equal((await readMany([w, flags])).map((d) => Array.from(d as Float32Array)), [[6, 5, 4, 3, 2, 1], [1, 0]]);
  await rejects(() => w.write(new Float32Array(5)), /float32 \[2,3\] uploaded to 'step' holds float32 \[2,3\] \(6 elements\); cannot write a Float32Array of 5 elements into it/);
  await rejects(() => s.upload(new Float32Array(5), [2, 3]), /step: upload of float32 \[2,3\] \(6 elements\) got a Float32Array of 5 elements/);
  w.dispose();
  flags.dispose();
  assert.throws(() => w.host(), /was disposed/);
  await s.release();
});

test('outputs written into preallocated residents: in place, not in the RunResult; gpu_graph_id is ignored on the CPU', async () => {
  const s = await Session.create(stepModel(), {}, 'step');
  const target = await s.upload(new Float32Array(6), [2, 3]);
  const r = await s.execute(feeds(), { outputs: { 'next.w': target }, graphId: 1 });
  assert.equal(r.names, ['loss', 'count']);
  assert.equal(Array.from(target.host() as Float32Array), [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
  r.dispose();
  assert.equal(Array.from(target.host() as Float32Array), [1.5, 2.5, 3.5, 4.5, 5.5, 6.5], 'the RunResult does not own it');
  target.dispose();
  await s.release();
});

test('a preallocated output is refused when it is also an input, has the wrong shape, or is host JS data', async () => {
  const s = await Session.create(stepModel(), { residentOutputs: ['loss'] }, 'step');
  const w = await s.upload(Float32Array.of(1, 2, 3, 4, 5, 6), [2, 3]);
  const small = await s.upload(new Float32Array(2), [2]);
  const reject = async (outputs: Record<string, Resident>, inputs = feeds() as Record<string, unknown>, pattern: RegExp) => {
    const e = await rejects(() => s.execute(inputs as never, { outputs }), pattern);
    assert.ok(e instanceof FeedError || e instanceof ResidencyError, e.name);
  };
  await reject({ 'next.w': w }, { ...feeds(), w }, /step: output 'next\.w' \(float32 \[2,3\]\) is to be written into float32 \[2,3\] uploaded to 'step', which is also fed as input 'w'; a run cannot overwrite its own input: alternate two residents/);
  await reject({ 'next.w': small }, feeds(), /step: output 'next\.w' \(float32 \[2,3\]\) is to be written into float32 \[2\] uploaded to 'step', which holds float32 \[2\]/);
  const r = await s.execute(feeds(), { fetches: ['count'] });
  const js = r.keep('count');
  r.dispose();
  await reject({ count: js }, feeds(), /which is in JS memory, not this session's host memory; create it with this session's upload\(\) or keep\(\) it from one of its runs/);
  await reject({ nope: w }, feeds(), /step: unknown output name 'nope'/);
  for (const t of [w, small, js]) t.dispose();
  await s.release();
});

test('cuda.cudaGraph requires residents that keep their addresses, on every provider', async () => {
  const s = await Session.create(loopModel(), { cuda: { cudaGraph: true } }, 'loop');
  const data = loopData(3);
  await rejects(
    () => s.execute({ w: data.w, m: data.m, x: data.batch(0), lr: Float32Array.of(0.01) }),
    /loop: cuda\.cudaGraph is on, so every input must be a Resident in this session's host memory that keeps its address from run to run \(upload\(\) it once, then write\(\) new data into it\); not so: 'w', 'm', 'x', 'lr'/,
  );
  const up = (d: Float32Array, dims: number[]) => s.upload(d, dims);
  const [wA, mA, wB, mB, x, lr, loss] = await Promise.all([up(data.w, [8, 8]), up(data.m, [8, 8]), up(new Float32Array(64), [8, 8]), up(new Float32Array(64), [8, 8]), up(data.batch(0), [16, 8]), up(Float32Array.of(0.01), []), up(Float32Array.of(0), [])]);
  await rejects(() => s.execute({ w: wA!, m: mA!, x: x!, lr: lr! }), /every output must be written into a preallocated Resident \(execute\(feeds, \{ outputs \}\)\); not preallocated: 'next\.w', 'next\.m', 'loss'/);
  // Two sets of state residents alternate (A→B with graph 1, B→A with graph 2), as a CUDA-graph loop would.
  const losses: number[] = [];
  for (let step = 0; step < 6; step++) {
    const [from, to] = step % 2 === 0 ? [[wA!, mA!], [wB!, mB!]] : [[wB!, mB!], [wA!, mA!]];
    await x!.write(data.batch(step));
    (await s.execute({ w: from[0]!, m: from[1]!, x: x!, lr: lr! }, { outputs: { 'next.w': to[0]!, 'next.m': to[1]!, loss: loss! }, graphId: 1 + (step % 2) })).dispose();
    losses.push(Number((loss!.host() as Float32Array)[0]));
  }
  const host = await Session.create(loopModel(), {}, 'loop (host)');
  const store = new TensorStore();
  store.set('w', data.w);
  store.set('m', data.m);
  for (let step = 0; step < 6; step++) {
    const r = await host.execute({ ...store.feeds(), x: data.batch(step), lr: Float32Array.of(0.01) });
    assert.is(await r.scalar('loss'), losses[step], `step ${step}`);
    store.advance(r);
    r.dispose();
  }
  assert.equal(Array.from(wA!.host() as Float32Array), Array.from((await store.read('w')) as Float32Array));
  for (const t of [wA, mA, wB, mB, x, lr, loss]) t!.dispose();
  store.dispose();
  await s.release();
  await host.release();
});

test('GPU residents: read() downloads, host() refuses, dispose() frees what was not kept', async () => {
  const s = await webgpuSession(stepModel(), { residentOutputs: ['next.w', 'loss'] });
  if (!(s instanceof Session)) return; // no Vulkan adapter: providers.test.ts checks the message
  const before = liveGpuTensors();
  const r = await s.execute(feeds());
  assert.is(liveGpuTensors(), before + 2);
  assert.equal([r.memory('next.w'), r.onDevice('next.w'), r.memory('count')], ['webgpu', true, 'js']);
  assert.throws(() => r.host('next.w'), (e: Error) => e instanceof ResidencyError && /output 'next.w' of run 1 of 'step' is in webgpu device memory; read it with 'await read\(\)'/.test(e.message));
  assert.equal(Array.from((await r.read('next.w')) as Float32Array), [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
  assert.is(await r.scalar('loss'), 21);
  const kept = r.keep('next.w');
  r.dispose();
  assert.is(liveGpuTensors(), before + 1);
  assert.throws(() => kept.host(), /is in webgpu device memory/);
  const store = new TensorStore();
  store.set('w', kept);
  store.set('w', new Float32Array(6)); // replacing a resident disposes it
  assert.is(kept.disposed, true);
  assert.is(liveGpuTensors(), before);
  kept.dispose(); // already disposed by the store: no second release
  await s.release();
});

/** Drops what `drop` makes, collects the garbage until a leak warning naming `label` arrives, and returns the warnings. */
async function collectLeakWarnings(drop: () => Promise<void>, label: string): Promise<string[]> {
  const v8 = await import('node:v8');
  const vm = await import('node:vm');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }) => {
    if (w.code === 'MULTISIAM_GPU_LEAK') warnings.push(w.message);
  };
  process.on('warning', onWarning);
  await drop();
  for (let i = 0; i < 40 && !warnings.some((w) => w.includes(label)); i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarning);
  return warnings;
}

test('a RunResult dropped without dispose() is released by the GC safety net, with a warning', async () => {
  const s = await webgpuSession(stepModel(), { residentOutputs: ['next.w'] }, 'leaky');
  if (s instanceof Session) {
    const before = liveGpuTensors();
    const warnings = await collectLeakWarnings(async () => void (await s.execute(feeds())), "'leaky'");
    assert.is(liveGpuTensors(), before);
    assert.ok(warnings.some((w) => /run 1 of 'leaky' was garbage-collected without dispose\(\); released 1 GPU tensor/.test(w)), warnings.join('\n'));
    await s.release();
  }
  const cpu = await Session.create(stepModel(), { residentOutputs: ['next.w'] }, 'leaky cpu');
  const warnings = await collectLeakWarnings(async () => void (await cpu.execute(feeds())), "'leaky cpu'");
  assert.ok(warnings.some((w) => /run 1 of 'leaky cpu' was garbage-collected without dispose\(\); released 1 ONNX Runtime host tensor/.test(w)), warnings.join('\n'));
  await cpu.release();
});

test.run();
