import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FeedError, ResidencyError } from '../../src/runtime/errors.js';
import { RunResult, TensorStore, liveGpuTensors } from '../../src/runtime/residency.js';
import { Session } from '../../src/runtime/session.js';
import { fakeGpuTensor, stepModel } from './helpers.js';

const w0 = () => Float32Array.of(1, 2, 3, 4, 5, 6);
const x0 = () => Float32Array.of(1, 1, 1, 1, 1, 1);
const feeds = () => ({ w: w0(), x: x0(), lr: Float32Array.of(0.5), n: BigInt64Array.of(7n) });

test('declared inputs and outputs are exposed with dtypes and shapes', async () => {
  const s = await Session.create(stepModel(), {}, 'step');
  assert.equal(s.ep, 'cpu');
  assert.equal(s.inputs.map((i) => `${i.name}:${i.dtype}[${i.shape}]`), ['w:float32[2,3]', 'x:float32[2,3]', 'lr:float32[]', 'n:int64[1]']);
  assert.equal(s.outputNames, ['next.w', 'loss', 'count']);
  assert.equal(s.deviceOutputs, []);
  await s.release();
});

test('run() returns host tensors; execute() returns a RunResult', async () => {
  const s = await Session.create(stepModel(), {}, 'step');
  const plain = await s.run(feeds());
  assert.equal(Array.from(plain['next.w']!.data as Float32Array), [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
  const r = await s.execute(feeds());
  assert.equal(r.names, ['next.w', 'loss', 'count']);
  assert.is(await r.scalar('loss'), 21);
  assert.equal(r.dims('next.w'), [2, 3]);
  assert.is(r.dtype('count'), 'int64');
  assert.is(r.onDevice('next.w'), false);
  assert.equal(Array.from(r.host('count') as BigInt64Array), [7n]);
  r.dispose();
  assert.throws(() => r.host('loss'), (e: Error) => e instanceof ResidencyError && /was disposed/.test(e.message));
  r.dispose(); // idempotent
  await s.release();
});

test('fetches restrict the outputs, and an unknown fetch is named', async () => {
  const s = await Session.create(stepModel(), {}, 'step');
  const r = await s.execute(feeds(), { fetches: ['loss'] });
  assert.equal(r.names, ['loss']);
  r.dispose();
  try {
    await s.execute(feeds(), { fetches: ['los'] });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, FeedError);
    assert.match((e as Error).message, /step: unknown output name 'los' \(did you mean 'loss'\?\); the model's outputs are 'next.w', 'loss', 'count'/);
  }
  await s.release();
});

async function feedError(f: Record<string, unknown>): Promise<Error> {
  const s = await Session.create(stepModel(), {}, 'step');
  try {
    await s.execute(f as never);
  } catch (e) {
    return e as Error;
  } finally {
    await s.release();
  }
  throw new Error('expected the feed to be rejected');
}

test('an unknown feed name is named, with a suggestion and the real inputs', async () => {
  const e = await feedError({ ...feeds(), wieght: w0() });
  assert.instance(e, FeedError);
  assert.match(e.message, "step: unknown input name 'wieght'");
  assert.match(e.message, "the model's inputs are 'w', 'x', 'lr', 'n'");
  const typo = await feedError({ w: w0(), xx: x0(), lr: Float32Array.of(1), n: BigInt64Array.of(1n) });
  assert.match(typo.message, "unknown input name 'xx' (did you mean 'x'?)");
});

test('missing inputs are listed', async () => {
  const { w, lr } = feeds();
  const e = await feedError({ w, lr });
  assert.match(e.message, "step: missing inputs 'x', 'n' (2 of 4 inputs not fed)");
});

test('a typed array of the wrong dtype or length is refused with expected vs got', async () => {
  const dtype = await feedError({ ...feeds(), x: new Float64Array(6) });
  assert.match(dtype.message, "step: input 'x' expects float32 [2,3], got a Float64Array (float64)");
  const length = await feedError({ ...feeds(), x: new Float32Array(5) });
  assert.match(length.message, "step: input 'x' expects float32 [2,3] (6 elements), got a Float32Array of 5 elements");
  const int = await feedError({ ...feeds(), n: Int32Array.of(1) });
  assert.match(int.message, "step: input 'n' expects int64 [1], got an Int32Array (int32)");
});

test('an ORT tensor of the wrong shape is refused', async () => {
  const ort = (await import('onnxruntime-node')).default;
  const e = await feedError({ ...feeds(), x: new ort.Tensor('float32', new Float32Array(6), [3, 2]) });
  assert.match(e.message, "step: input 'x' expects float32 [2,3], got a float32 tensor [3,2]");
});

test('a GPU tensor fed to a CPU session is refused without touching its data', async () => {
  const fake = fakeGpuTensor([2, 3]);
  const e = await feedError({ ...feeds(), x: fake.tensor });
  assert.instance(e, ResidencyError);
  assert.match(e.message, "step: input 'x' expects float32 [2,3], got a gpu-buffer tensor, which only a webgpu session can read (this one runs on cpu)");
  assert.equal(fake.calls, { dispose: 0, download: 0 });
});

test('gpuOutputs: unknown names fail at creation; on the CPU outputs stay host tensors', async () => {
  try {
    await Session.create(stepModel(), { gpuOutputs: ['next.v'] }, 'step');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, FeedError);
    assert.match((e as Error).message, "step: gpuOutputs names 'next.v', not an output of the model; its outputs are 'next.w', 'loss', 'count'");
  }
  const s = await Session.create(stepModel(), { gpuOutputs: ['next.w'] }, 'step');
  assert.equal(s.deviceOutputs, []);
  const r = await s.execute(feeds());
  assert.is(r.onDevice('next.w'), false);
  r.dispose();
  await s.release();
});

test('keep() carries an output into the next run and survives dispose()', async () => {
  const s = await Session.create(stepModel(), {}, 'step');
  const r1 = await s.execute(feeds());
  const w1 = r1.keep('next.w');
  assert.throws(() => r1.tensor('next.w'), /was moved out by keep\(\)/);
  r1.dispose();
  const r2 = await s.execute({ ...feeds(), w: w1 });
  assert.equal(Array.from((await r2.read('next.w')) as Float32Array), [2, 3, 4, 5, 6, 7]);
  r2.dispose();
  w1.dispose();
  try {
    await s.execute({ ...feeds(), w: w1 });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, ResidencyError);
    assert.match((e as Error).message, "step: input 'w' expects float32 [2,3], got output 'next.w' of run 1 of 'step', which was disposed");
  }
  await s.release();
});

test('an error inside ONNX Runtime during a run names the model, the run and the provider', async () => {
  const { Graph } = await import('../../src/onnx/ir.js');
  const { writeModel } = await import('../../src/onnx/serialize.js');
  const { gather } = await import('../../src/onnx/ops/index.js');
  const g = new Graph('gather');
  g.output('y', gather(g.input('x', 'float32', [3]), g.input('i', 'int64', [1])));
  const s = await Session.create(writeModel(g).model, {}, 'gather.onnx');
  assert.equal(Array.from((await s.run({ x: Float32Array.of(1, 2, 3), i: BigInt64Array.of(2n) }))['y']!.data as Float32Array), [3]);
  try {
    await s.execute({ x: Float32Array.of(1, 2, 3), i: BigInt64Array.of(7n) });
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /^gather\.onnx: run 2 failed on the 'cpu' execution provider: .*out of/);
  }
  await s.release();
});

test('a TensorStore loop advances next.<name> outputs into state', async () => {
  const s = await Session.create(stepModel(), {}, 'step');
  const store = new TensorStore();
  store.set('w', w0());
  for (let i = 0; i < 4; i++) {
    const r = await s.execute({ ...store.feeds(), x: x0(), lr: Float32Array.of(0.25), n: BigInt64Array.of(1n) });
    assert.equal(store.advance(r), ['w']);
    r.dispose();
  }
  assert.equal(Array.from((await store.read('w')) as Float32Array), [2, 3, 4, 5, 6, 7]);
  const r = await s.execute({ ...store.feeds(), x: x0(), lr: Float32Array.of(0), n: BigInt64Array.of(1n) });
  const other = new TensorStore();
  other.set('v', w0());
  assert.throws(() => other.advance(r), /output 'next.w' updates nothing in the tensor store \(it holds 'v'\)/);
  r.dispose();
  store.dispose();
  await s.release();
});

test('RunResult with GPU outputs: read() downloads, host() refuses, dispose() frees what was not kept', async () => {
  const a = fakeGpuTensor([2, 3]);
  const b = fakeGpuTensor([2, 3]);
  const downloads: string[] = [];
  const before = liveGpuTensors();
  const r = new RunResult({ a: a.tensor, b: b.tensor }, 'run 1 of fake', async (_t, what) => {
    downloads.push(what);
    return new Float32Array(6).fill(3);
  });
  assert.is(liveGpuTensors(), before + 2);
  assert.throws(() => r.host('a'), (e: Error) => e instanceof ResidencyError && /output 'a' of run 1 of fake is on the GPU \(gpu-buffer\); read it with 'await read\(\)'/.test(e.message));
  assert.equal(Array.from((await r.read('a')) as Float32Array), [3, 3, 3, 3, 3, 3]);
  assert.equal(downloads, ["output 'a' of run 1 of fake"]);
  const kept = r.keep('b');
  r.dispose();
  assert.equal(a.calls, { dispose: 1, download: 0 });
  assert.equal(b.calls, { dispose: 0, download: 0 });
  assert.is(liveGpuTensors(), before + 1);
  assert.is(kept.onDevice, true);
  assert.throws(() => kept.host(), /is on the GPU/);
  assert.equal(Array.from((await kept.read()) as Float32Array).length, 6);
  const store = new TensorStore();
  store.set('b', kept);
  store.set('b', new Float32Array(6)); // replacing a resident disposes it
  assert.equal(b.calls, { dispose: 1, download: 0 });
  assert.is(liveGpuTensors(), before);
  kept.dispose(); // already disposed by the store: no second dispose
  assert.equal(b.calls.dispose, 1);
});

test('a RunResult dropped without dispose() is released by the GC safety net, with a warning', async () => {
  const v8 = await import('node:v8');
  const vm = await import('node:vm');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const before = liveGpuTensors();
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }) => {
    if (w.code === 'MULTISIAM_GPU_LEAK') warnings.push(w.message);
  };
  process.on('warning', onWarning);
  const fake = fakeGpuTensor([1]);
  (() => {
    new RunResult({ y: fake.tensor }, 'run 9 of leaky', null);
  })();
  for (let i = 0; i < 20 && fake.calls.dispose === 0; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  process.off('warning', onWarning);
  assert.is(fake.calls.dispose, 1);
  assert.is(liveGpuTensors(), before);
  await new Promise((r) => setImmediate(r));
  assert.ok(warnings.some((w) => /run 9 of leaky was garbage-collected without dispose\(\); released 1 GPU tensor/.test(w)), warnings.join('\n'));
});

test('run() refuses nothing on the CPU and execute() results of a long loop leave no live GPU tensors', async () => {
  const s = await Session.create(stepModel(), { gpuOutputs: 'all' }, 'step');
  const before = liveGpuTensors();
  for (let i = 0; i < 20; i++) (await s.execute(feeds())).dispose();
  assert.is(liveGpuTensors(), before);
  await s.run(feeds());
  await s.release();
});

test.run();
