/**
 * Sessions on the CPU: declared inputs and outputs, strict feeds and their messages, run() and
 * execute(), ownership of outputs (keep, dispose), resident outputs as ORT host tensors, and the
 * resident loop against the host loop.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FeedError, ResidencyError } from '../../src/runtime/errors.js';
import { TensorStore, liveGpuTensors } from '../../src/runtime/residency.js';
import { Session } from '../../src/runtime/session.js';
import { loopData, loopModel, stepModel, webgpuSession } from './helpers.js';

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
  assert.equal([plain['next.w']!.type, plain['next.w']!.dims], ['float32', [2, 3]]);
  const r = await s.execute(feeds());
  assert.equal(r.names, ['next.w', 'loss', 'count']);
  assert.is(await r.scalar('loss'), 21);
  assert.equal(r.dims('next.w'), [2, 3]);
  assert.is(r.dtype('count'), 'int64');
  assert.is(r.onDevice('next.w'), false);
  assert.is(r.memory('next.w'), 'js');
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

test('a host tensor of the wrong shape is refused; one of the right shape is fed', async () => {
  const e = await feedError({ ...feeds(), x: { type: 'float32', dims: [3, 2], data: new Float32Array(6) } });
  assert.match(e.message, "step: input 'x' expects float32 [2,3], got a float32 tensor [3,2]");
  const s = await Session.create(stepModel(), {}, 'step');
  const out = await s.run({ ...feeds(), x: { type: 'float32', dims: [2, 3], data: x0() } });
  assert.equal(Array.from(out['next.w']!.data as Float32Array), [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
  await s.release();
});

test('a GPU resident fed to a CPU session is refused without touching its data', async () => {
  const gpu = await webgpuSession(stepModel());
  if (!(gpu instanceof Session)) return; // no Vulkan adapter: providers.test.ts checks the message
  const resident = await gpu.upload(x0(), [2, 3]);
  const e = await feedError({ ...feeds(), x: resident });
  assert.instance(e, ResidencyError);
  assert.match(e.message, "step: input 'x' expects float32 [2,3], got float32 [2,3] uploaded to 'step' in webgpu device memory, which only a webgpu session can read (this one runs on cpu)");
  assert.equal(Array.from((await resident.read()) as Float32Array), Array.from(x0()));
  resident.dispose();
  await gpu.release();
});

test('residentOutputs: unknown names fail at creation; on the CPU residents are ONNX Runtime host tensors', async () => {
  try {
    await Session.create(stepModel(), { residentOutputs: ['next.v'] }, 'step');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, FeedError);
    assert.match((e as Error).message, "step: residentOutputs names 'next.v', not an output of the model; its outputs are 'next.w', 'loss', 'count'");
  }
  const s = await Session.create(stepModel(), { residentOutputs: ['next.w'] }, 'step');
  assert.equal([s.residentOutputs, s.deviceOutputs], [['next.w'], []]);
  const r = await s.execute(feeds());
  assert.equal([r.memory('next.w'), r.onDevice('next.w'), r.memory('loss')], ['host', false, 'js']);
  assert.equal(Array.from(r.host('next.w') as Float32Array), [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
  r.dispose();
  const plain = await s.run(feeds()); // host memory: run() copies it out
  assert.equal(Array.from(plain['next.w']!.data as Float32Array), [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
  await s.release();
});

test('keep() carries an output into the next run and survives dispose()', async () => {
  const s = await Session.create(stepModel(), { residentOutputs: 'all' }, 'step');
  const r1 = await s.execute(feeds());
  const w1 = r1.keep('next.w');
  assert.throws(() => r1.host('next.w'), /was moved out by keep\(\)/);
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
  assert.equal(Array.from((await s.run({ x: Float32Array.of(1, 2, 3), i: BigInt64Array.of(0n) }))['y']!.data as Float32Array), [1], 'the session still runs after a failed run');
  await s.release();
});

test('a TensorStore loop advances next.<name> outputs into state', async () => {
  const s = await Session.create(stepModel(), { residentOutputs: ['next.w'] }, 'step');
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

/** Runs `steps` of loopModel, carrying state as host arrays or as residents; returns losses and the final state. */
async function loop(resident: boolean, steps: number): Promise<{ losses: number[]; w: Float32Array; m: Float32Array }> {
  const s = await Session.create(loopModel(), resident ? { residentOutputs: ['next.w', 'next.m'] } : {}, 'loop');
  const data = loopData(7);
  const store = new TensorStore();
  store.set('w', data.w);
  store.set('m', data.m);
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const r = await s.execute({ ...store.feeds(), x: data.batch(step), lr: Float32Array.of(0.01) });
    losses.push(await r.scalar('loss'));
    store.advance(r);
    r.dispose();
  }
  const out = { losses, w: (await store.read('w')) as Float32Array, m: (await store.read('m')) as Float32Array };
  store.dispose();
  await s.release();
  return out;
}

test('the resident loop on the CPU equals the host loop bit for bit', async () => {
  const host = await loop(false, 20);
  const resident = await loop(true, 20);
  assert.equal(resident.losses, host.losses);
  assert.equal(Array.from(resident.w), Array.from(host.w));
  assert.equal(Array.from(resident.m), Array.from(host.m));
  assert.ok(host.losses[19]! !== host.losses[0]!, 'the state changes from step to step');
});

test('a long execute() loop with every output disposed leaves no live GPU tensors', async () => {
  const s = await Session.create(stepModel(), { residentOutputs: 'all' }, 'step');
  const before = liveGpuTensors();
  for (let i = 0; i < 20; i++) (await s.execute(feeds())).dispose();
  assert.is(liveGpuTensors(), before);
  await s.release();
  try {
    await s.execute(feeds());
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, 'step: the session was released');
  }
});

test.run();
