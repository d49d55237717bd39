/**
 * WebGPU through the C API, for real where a Vulkan adapter exists (Mesa lavapipe in CI and on the
 * build machine; .ci/run installs it): a training-like loop whose state never leaves the device
 * matches the CPU, device copies (upload, write, readMany) and preallocated outputs work, and
 * forceCpuNodes reaches the provider. Without an adapter each test returns at once
 * (providers.test.ts checks the install guidance then).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Graph } from '../../src/onnx/ir.js';
import { add, mul } from '../../src/onnx/ops/index.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { liveGpuTensors, readMany } from '../../src/runtime/residency.js';
import { Session } from '../../src/runtime/session.js';
import { loopData, loopModel, rejects, relErr, stepModel, webgpuSession } from './helpers.js';

const STEPS = 8;

test('a resident loop on webgpu (next.* outputs fed back on the device, read at the end) matches the CPU within 1e-5', async () => {
  const gpu = await webgpuSession(loopModel(), { residentOutputs: ['next.w', 'next.m'] }, 'loop');
  if (!(gpu instanceof Session)) return;
  const cpu = await Session.create(loopModel(), {}, 'loop');
  const data = loopData(11);
  const live = liveGpuTensors();
  let [w, m] = await Promise.all([gpu.upload(data.w, [8, 8]), gpu.upload(data.m, [8, 8])]);
  let host = { w: data.w, m: data.m };
  const worst = { loss: 0, w: 0, m: 0 };
  for (let step = 0; step < STEPS; step++) {
    const feeds = { x: data.batch(step), lr: Float32Array.of(0.01) };
    const r = await gpu.execute({ ...feeds, w: w!, m: m! });
    const h = await cpu.run({ ...feeds, ...host });
    worst.loss = Math.max(worst.loss, relErr([await r.scalar('loss')], h['loss']!.data as Float32Array));
    w!.dispose();
    m!.dispose();
    [w, m] = [r.keep('next.w'), r.keep('next.m')];
    assert.ok(w.onDevice && m.onDevice);
    r.dispose();
    host = { w: h['next.w']!.data as Float32Array, m: h['next.m']!.data as Float32Array };
  }
  const [wEnd, mEnd] = (await readMany([w!, m!])) as Float32Array[];
  worst.w = relErr(wEnd!, host.w);
  worst.m = relErr(mEnd!, host.m);
  console.log(`\n  webgpu vs cpu over ${STEPS} resident steps: loss ${worst.loss.toExponential(1)}, w ${worst.w.toExponential(1)}, m ${worst.m.toExponential(1)} (max relative error)`);
  assert.ok(worst.loss <= 1e-5 && worst.w <= 1e-5 && worst.m <= 1e-5, JSON.stringify(worst));
  w!.dispose();
  m!.dispose();
  assert.is(liveGpuTensors(), live);
  await gpu.release();
  await cpu.release();
});

test('webgpu: upload, write in place, preallocated outputs and readMany', async () => {
  const s = await webgpuSession(stepModel(), { residentOutputs: ['loss'] });
  if (!(s instanceof Session)) return;
  const w = await s.upload(Float32Array.of(1, 2, 3, 4, 5, 6), [2, 3]);
  const x = await s.upload(new Float32Array(6), [2, 3]);
  const next = await s.upload(new Float32Array(6), [2, 3]);
  assert.equal([w.memory, w.onDevice], ['webgpu', true]);
  await x.write(new Float32Array(6).fill(2));
  const r = await s.execute({ w, x, lr: Float32Array.of(0.5), n: BigInt64Array.of(1n) }, { outputs: { 'next.w': next }, graphId: 1 });
  assert.equal(r.names, ['loss', 'count']);
  assert.is(await r.scalar('loss'), 21);
  r.dispose();
  const [a, b, c] = (await readMany([w, x, next])) as Float32Array[];
  assert.equal([Array.from(a!), Array.from(b!), Array.from(c!)], [[1, 2, 3, 4, 5, 6], [2, 2, 2, 2, 2, 2], [2, 3, 4, 5, 6, 7]]);
  for (const t of [w, x, next]) t.dispose();
  await s.release();
  await rejects(() => w.read(), /was disposed/);
});

test('webgpu: forceCpuNodes puts named nodes on the CPU (which deviceOnly then refuses)', async () => {
  const g = new Graph('two');
  const a = g.input('a', 'float32', [4]);
  g.output('y', mul(add(a, a), a));
  const model = writeModel(g).model;
  const onDevice = await webgpuSession(model, { deviceOnly: true }, 'two');
  if (!(onDevice instanceof Session)) return;
  assert.equal(Array.from((await onDevice.run({ a: Float32Array.of(1, 2, 3, 4) }))['y']!.data as Float32Array), [2, 8, 18, 32]);
  await onDevice.release();
  await rejects(
    () => Session.create(model, { ep: 'webgpu', deviceOnly: true, forceCpuNodes: ['Add_0'] }, 'two'),
    /two: ONNX Runtime could not create a session on the 'webgpu' execution provider: .*fallback to CPU EP has been explicitly disabled/,
  );
});

test.run();
