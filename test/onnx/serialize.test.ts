/**
 * ONNX I/O: models we write load and run in ONNX Runtime; write → read → write is byte-stable (with
 * backward nodes too); external data saved beside a model loads in ORT from its path and reads
 * back; versions are what we promise; bad bytes fail with the source named; inputs baked in as
 * initializers and symbolic input/output axes give a self-contained model that runs at other sizes.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import ort from 'onnxruntime-node';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { grad } from '../../src/onnx/autodiff.js';
import { tensor } from '../../src/onnx/constant.js';
import { OnnxFormatError } from '../../src/onnx/errors.js';
import { Graph, type Value } from '../../src/onnx/ir.js';
import { add, matMul, mul, reduceMean, reduceSum, relu, stopGradient, sub } from '../../src/onnx/ops/index.js';
import { decodeModel, encodeModel } from '../../src/onnx/proto.js';
import { IR_VERSION, OPSET, loadModel, readModel, saveModel, writeModel } from '../../src/onnx/serialize.js';
import { Session } from '../../src/runtime/session.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'multisiam-serialize-'));
  dirs.push(d);
  return d;
}
test.after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A two-layer MLP with a loss and its backward pass: x[4,3] → relu(x·w1) → ·w2 → mean((y − t)²). */
function mlpWithBackward(): { g: Graph; params: Value[] } {
  const g = new Graph('mlp');
  const x = g.input('x', 'float32', [4, 3]);
  const target = g.input('target', 'float32', [4, 2]);
  const params = g.scope('fc', () => [g.param('w1', [3, 5], { kind: 'normal', std: 0.5 }), g.param('w2', [5, 2], { kind: 'normal', std: 0.5 }, 'no_decay')]);
  const h = relu(matMul(x, params[0]!));
  const d = sub(matMul(h, params[1]!), stopGradient(target));
  const loss = reduceMean(mul(d, d));
  const grads = grad(loss, params);
  g.output('loss', loss);
  grads.forEach((gr, i) => g.output(`grad.${params[i]!.name}`, gr));
  return { g, params };
}

const X = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i + 1));
const W1 = Float32Array.from({ length: 15 }, (_, i) => Math.cos(i * 0.7) * 0.5);
const W2 = Float32Array.from({ length: 10 }, (_, i) => Math.sin(i * 1.3) * 0.5);
const T = Float32Array.from({ length: 8 }, (_, i) => i / 8);

test('a model we write loads in ONNX Runtime and runs (forward and backward)', async () => {
  const { g } = mlpWithBackward();
  const s = await Session.create(writeModel(g).model, {}, 'mlp');
  assert.equal(s.outputNames, ['loss', 'grad.fc.w1', 'grad.fc.w2']);
  const out = await s.run({ x: X, target: T, 'fc.w1': W1, 'fc.w2': W2 });
  // Reference in float64.
  const h = [...Array(4)].map((_, n) => [...Array(5)].map((_, j) => Math.max(0, [0, 1, 2].reduce((acc, k) => acc + X[n * 3 + k]! * W1[k * 5 + j]!, 0))));
  let loss = 0;
  const gw2 = new Array(10).fill(0);
  for (let n = 0; n < 4; n++) {
    for (let o = 0; o < 2; o++) {
      const d = h[n]!.reduce((acc, hv, j) => acc + hv * W2[j * 2 + o]!, 0) - T[n * 2 + o]!;
      loss += (d * d) / 8;
      for (let j = 0; j < 5; j++) gw2[j * 2 + o] += ((2 * d) / 8) * h[n]![j]!;
    }
  }
  assert.ok(Math.abs((out['loss']!.data as Float32Array)[0]! - loss) < 1e-6 * Math.max(1, loss));
  const got = out['grad.fc.w2']!.data as Float32Array;
  gw2.forEach((v, i) => assert.ok(Math.abs(got[i]! - v) < 1e-5, `grad.fc.w2[${i}]: ${got[i]} vs ${v}`));
  await s.release();
});

test('written models declare IR version 8, opset 18, roles and backward-node tags', () => {
  const { g } = mlpWithBackward();
  const m = decodeModel(writeModel(g).model);
  assert.is(IR_VERSION, 8);
  assert.is(OPSET, 18);
  assert.is(Number(m.irVersion), 8);
  assert.equal(m.opsetImport.map((o) => [o.domain ?? '', Number(o.version)]), [['', 18]]);
  assert.equal(m.graph.input.map((i) => `${i.name} ${i.docString}`), ['x role=data', 'target role=data', 'fc.w1 role=param group=decay', 'fc.w2 role=param group=no_decay']);
  const backward = m.graph.node.filter((n) => n.metadataProps?.some((p) => p.key === 'fwd'));
  assert.ok(backward.length > 0 && backward.every((n) => n.name.includes('/grad/')), 'backward nodes are scoped under …/grad and tagged with their forward node');
});

test('write → read → write is byte-stable, with backward nodes', () => {
  const { g } = mlpWithBackward();
  const first = writeModel(g).model;
  const back = readModel(first, undefined, 'first');
  const second = writeModel(back).model;
  assert.is(second.length, first.length);
  assert.ok(Buffer.from(first).equals(Buffer.from(second)), 'bytes differ after a round trip');
  assert.equal(back.inputs.map((i) => `${i.value.name}:${i.role}${i.group ? '/' + i.group : ''}`), ['x:data', 'target:data', 'fc.w1:param/decay', 'fc.w2:param/no_decay']);
  assert.ok(back.nodes.some((n) => n.forwardOf !== null), 'forward-node tags survive');
  assert.ok(Buffer.from(writeModel(readModel(second)).model).equals(Buffer.from(first)));
});

test('external data: a large constant saved beside the model loads in ORT from its path and round-trips', async () => {
  const dir = tempDir();
  const g = new Graph('big');
  const x = g.input('x', 'float32', [256, 256]);
  const bigData = Float32Array.from({ length: 256 * 256 }, (_, i) => ((i * 7919) % 1000) / 1000);
  const big = tensor(g, bigData, [256, 256]);
  const small = tensor(g, [1, 2, 3, 4], [4]);
  g.output('y', add(x, big));
  g.output('s', reduceSum(small));
  const path = join(dir, 'big.onnx');
  const files = saveModel(g, path);
  assert.equal(files, [path, join(dir, 'big.onnx.data')]);
  assert.ok(statSync(path).size < 4096, `the model file holds no weights (${statSync(path).size} bytes)`);
  assert.ok(statSync(files[1]!).size >= bigData.byteLength);

  const s = await Session.create(path, {}, 'big.onnx');
  const out = await s.run({ x: new Float32Array(256 * 256).fill(1) });
  const y = out['y']!.data as Float32Array;
  assert.is(y[12345], Math.fround(1 + bigData[12345]!));
  assert.is((out['s']!.data as Float32Array)[0], 10);
  await s.release();

  // Bytes + in-memory external data, as a bundle loader would pass them.
  const s2 = await Session.create(readFileSync(path), { externalData: [{ path: 'big.onnx.data', data: readFileSync(files[1]!) }] }, 'big (bytes)');
  assert.is(((await s2.run({ x: new Float32Array(256 * 256) }))['y']!.data as Float32Array)[7], bigData[7]);
  await s2.release();

  const back = loadModel(path);
  const c = back.constants.find((v) => v.size === 256 * 256)!;
  assert.ok(Buffer.from((c.constData as Float32Array).buffer).equals(Buffer.from(bigData.buffer)), 'external tensor reads back bit-exact');
  const again = join(tempDir(), 'big.onnx');
  saveModel(back, again);
  assert.ok(readFileSync(again).equals(readFileSync(path)), 'model file byte-stable');
  assert.ok(readFileSync(`${again}.data`).equals(readFileSync(`${path}.data`)), 'data file byte-stable');
});

test('a model of another opset is refused, naming the source and both opsets', () => {
  const { g } = mlpWithBackward();
  const m = decodeModel(writeModel(g).model);
  m.opsetImport = [{ domain: '', version: 17 }];
  const bytes = encodeModel(m);
  assert.throws(() => readModel(bytes, undefined, 'old.onnx'), (e: Error) => e instanceof OnnxFormatError && /old\.onnx: default-domain opset is 17; multisiam reads opset 18 models/.test(e.message));
});

test('garbage or truncated bytes fail with an error naming the source', () => {
  const dir = tempDir();
  const garbage = join(dir, 'garbage.onnx');
  writeFileSync(garbage, Buffer.from('this is not a protobuf \xff\xfe\x00\x01 at all, just text'));
  assert.throws(() => loadModel(garbage), (e: Error) => e instanceof OnnxFormatError && e.message.startsWith(`${garbage}: not a valid ONNX ModelProto`));
  const truncated = join(dir, 'truncated.onnx');
  const { g } = mlpWithBackward();
  writeFileSync(truncated, writeModel(g).model.subarray(0, 300));
  assert.throws(() => loadModel(truncated), (e: Error) => e instanceof OnnxFormatError && e.message.includes(truncated));
  assert.throws(() => loadModel(join(dir, 'missing.onnx')), (e: Error) => e instanceof OnnxFormatError && /cannot read ONNX model '.*missing\.onnx'/.test(e.message));
  assert.throws(() => readModel(new Uint8Array([0xff, 0xff, 0xff]), undefined, 'bytes from the network'), /bytes from the network: not a valid ONNX ModelProto/);
});

test('a missing external data file is reported with the tensor and source', () => {
  const dir = tempDir();
  const g = new Graph('ext');
  const x = g.input('x', 'float32', [64, 64]);
  g.output('y', add(x, tensor(g, new Float32Array(64 * 64).fill(2), [64, 64])));
  const [path, data] = saveModel(g, join(dir, 'ext.onnx'));
  rmSync(data!);
  assert.throws(() => loadModel(path!), (e: Error) => e.message.includes('ext.onnx.data'));
});

/** x (B, 3) → relu(x·w) (B, 5) and its row sums (B), with w a parameter input. */
function forwardOnly(): Graph {
  const g = new Graph('fwd');
  const x = g.input('x', 'float32', [4, 3]);
  const w = g.param('w', [3, 5], { kind: 'normal', std: 0.5 });
  const y = relu(matMul(x, w));
  g.output('y', y);
  g.output('s', reduceSum(y, [1]));
  return g;
}

test('initializers: named inputs are baked into the model, which then needs only the rest fed', async () => {
  const written = writeModel(forwardOnly(), { initializers: new Map([['w', W1]]) });
  const m = decodeModel(written.model);
  assert.equal(m.graph.input.map((i) => i.name), ['x']);
  assert.equal(written.inputs.map((i) => i.name), ['x']);
  const w = m.graph.initializer.find((t) => t.name === 'w')!;
  assert.equal(w.dims.map(Number), [3, 5]);
  const s = await Session.create(written.model, {}, 'baked');
  const y = (await s.run({ x: X }))['y']!.data as Float32Array;
  for (let n = 0; n < 4; n++) {
    for (let j = 0; j < 5; j++) {
      const ref = Math.max(0, [0, 1, 2].reduce((acc, k) => acc + X[n * 3 + k]! * W1[k * 5 + j]!, 0));
      assert.ok(Math.abs(y[n * 5 + j]! - ref) < 1e-6, `y[${n},${j}]: ${y[n * 5 + j]} vs ${ref}`);
    }
  }
  await s.release();
});

test('initializers: a name that is not an input, or data of the wrong size or type, is refused with both named', () => {
  assert.throws(() => writeModel(forwardOnly(), { initializers: new Map([['v', W1]]) }), /initializer 'v' is not an input of graph 'fwd'/);
  assert.throws(() => writeModel(forwardOnly(), { initializers: new Map([['w', W2]]) }), /initializer 'w' holds a Float32Array of 10 values; input 'w' is float32 \[3,5\] \(15 values\)/);
  assert.throws(() => writeModel(forwardOnly(), { initializers: new Map([['w', new Float64Array(15)]]) }), /initializer 'w' holds a Float64Array of 15 values/);
});

test('dynamicAxes: named axes are symbolic, intermediate value_info is left out, and the model runs at other sizes', async () => {
  const written = writeModel(forwardOnly(), { initializers: new Map([['w', W1]]), dynamicAxes: { x: { 0: 'batch' }, y: { 0: 'batch' }, s: { 0: 'batch' } } });
  const m = decodeModel(written.model);
  const dims = (vi: (typeof m.graph.input)[number]) => vi.type.tensorType.shape.dim.map((d) => d.dimParam ?? Number(d.dimValue));
  assert.equal(dims(m.graph.input[0]!), ['batch', 3]);
  assert.equal(m.graph.output.map(dims), [['batch', 5], ['batch']]);
  assert.equal(m.graph.valueInfo ?? [], []);
  assert.ok(decodeModel(writeModel(forwardOnly()).model).graph.valueInfo!.length > 0, 'static models keep their value_info');
  // ONNX Runtime directly: Session checks feeds against static shapes.
  const s = await ort.InferenceSession.create(written.model);
  for (const batch of [1, 7]) {
    const x = new ort.Tensor('float32', Float32Array.from({ length: batch * 3 }, (_, i) => Math.sin(i)), [batch, 3]);
    const out = await s.run({ x });
    assert.equal(out['y']!.dims, [batch, 5]);
    assert.equal(out['s']!.dims, [batch]);
  }
  await s.release();
});

test('dynamicAxes: an unknown name or an axis beyond the rank is refused, naming both', () => {
  assert.throws(() => writeModel(forwardOnly(), { dynamicAxes: { z: { 0: 'batch' } } }), /dynamicAxes names 'z', which is not an input or output of the model; those are 'x', 'w', 'y', 's'/);
  assert.throws(() => writeModel(forwardOnly(), { dynamicAxes: { s: { 1: 'batch' } } }), /dynamicAxes\['s'\] names axis 1, but 's' has rank 1/);
  assert.throws(() => writeModel(forwardOnly(), { initializers: new Map([['w', W1]]), dynamicAxes: { w: { 0: 'n' } } }), /dynamicAxes names 'w', which is not an input or output/);
});

test.run();
