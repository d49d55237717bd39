/**
 * Composite math (src/onnx/composite/math.ts): values in float64 against a plain-JS float64
 * reference, gradients in float32 against central differences with the op-test harness.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { grad } from '../../src/onnx/autodiff.js';
import { cosineSimilarity, l2Normalize, logSoftmax, logSumExp } from '../../src/onnx/composite/math.js';
import { shapeSize } from '../../src/onnx/dtype.js';
import { Graph, type Value } from '../../src/onnx/ir.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { Session } from '../../src/runtime/session.js';
import { type OpCase, checkCase, sample } from './gradcheck.js';
import { uniformStream } from '../../src/data/rng.js';

type Input = { readonly shape: readonly number[]; readonly data: Float64Array };

/** Runs `build` on float64 inputs in ONNX Runtime and returns the output's shape and data. */
async function runF64(inputs: Readonly<Record<string, Input>>, build: (x: Record<string, Value>) => Value): Promise<{ dims: readonly number[]; data: Float64Array }> {
  const graph = new Graph('composite f64');
  const x: Record<string, Value> = {};
  for (const [name, { shape }] of Object.entries(inputs)) x[name] = graph.input(name, 'float64', shape);
  const y = build(x);
  graph.output('y', y);
  const session = await Session.create(writeModel(graph).model, {}, graph.name);
  const out = (await session.run(Object.fromEntries(Object.entries(inputs).map(([n, i]) => [n, i.data]))))['y']!;
  await session.release();
  assert.equal([...out.dims], [...y.shape], 'shape rule agrees with ONNX Runtime');
  return { dims: out.dims, data: out.data as Float64Array };
}

function randn(shape: readonly number[], seed: number, scale = 1): Input {
  return { shape, data: Float64Array.from(sample({ shape, dtype: 'float64' }, uniformStream(seed)) as Float64Array, (v) => v * scale) };
}

/** Reference reductions over one axis of a row-major tensor: `f` maps each fibre to one number. */
function alongAxis(x: Input, axis: number, f: (fibre: number[]) => number[]): Float64Array {
  const out = new Float64Array(x.data.length);
  const n = x.shape[axis]!;
  const inner = shapeSize(x.shape.slice(axis + 1));
  const outer = x.data.length / (n * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (k: number) => o * n * inner + k * inner + i;
      const fibre = Array.from({ length: n }, (_, k) => x.data[at(k)]!);
      f(fibre).forEach((v, k) => (out[at(k)] = v));
    }
  }
  return out;
}

function closeTo(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const [a, e] = [actual[i]!, expected[i]!];
    assert.ok(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)), `${what}[${i}]: got ${a}, expected ${e}`);
  }
}

const norm = (v: number[]) => Math.sqrt(v.reduce((s, e) => s + e * e, 0));
const lse = (v: number[]) => {
  const m = Math.max(...v);
  return m + Math.log(v.reduce((s, e) => s + Math.exp(e - m), 0));
};

test('l2Normalize matches x / max(‖x‖, eps), including a zero row and a row shorter than eps', async () => {
  const x = randn([4, 3], 1);
  x.data.fill(0, 3, 6); // row 1: zero
  x.data.set([3e-13, -4e-13, 0], 6); // row 2: norm 5e-13 < eps
  for (const axis of [1, 0]) {
    const { data } = await runF64({ x }, ({ x }) => l2Normalize(x!, axis));
    closeTo(data, alongAxis(x, axis, (v) => v.map((e) => e / Math.max(norm(v), 1e-12))), 1e-12, `axis ${axis}`);
  }
});

test('cosineSimilarity matches the reference and broadcasts b', async () => {
  const [a, b] = [randn([3, 4], 2), randn([4], 3)];
  const { data, dims } = await runF64({ a, b }, ({ a, b }) => cosineSimilarity(a!, b!, -1));
  assert.equal([...dims], [3]);
  const bv = Array.from(b.data);
  const expected = [0, 1, 2].map((r) => {
    const av = Array.from(a.data.subarray(4 * r, 4 * r + 4));
    return av.reduce((s, e, k) => s + e * bv[k]!, 0) / (norm(av) * norm(bv));
  });
  closeTo(data, expected, 1e-12, 'cos');
});

test('logSumExp is exact for large logits, with and without keepdims', async () => {
  const x = randn([2, 5], 4, 3);
  x.data[2] = 1000; // exp(1000) overflows float64 without the shift
  x.data[7] = -1000;
  const keep = await runF64({ x }, ({ x }) => logSumExp(x!, 1, true));
  assert.equal([...keep.dims], [2, 1]);
  const expected = [0, 1].map((r) => lse(Array.from(x.data.subarray(5 * r, 5 * r + 5))));
  closeTo(keep.data, expected, 1e-12, 'keepdims');
  const dropped = await runF64({ x }, ({ x }) => logSumExp(x!, 0));
  assert.equal([...dropped.dims], [5]);
  closeTo(dropped.data, [0, 1, 2, 3, 4].map((c) => lse([x.data[c]!, x.data[5 + c]!])), 1e-12, 'axis 0');
});

test('logSoftmax matches x − logSumExp(x) and exponentiates to a distribution', async () => {
  const x = randn([2, 3, 4], 5, 4);
  const { data } = await runF64({ x }, ({ x }) => logSoftmax(x!, 1));
  const expected = alongAxis(x, 1, (v) => v.map((e) => e - lse(v)));
  closeTo(data, expected, 1e-12, 'logSoftmax');
  const sums = alongAxis({ shape: x.shape, data }, 1, (v) => v.map(() => v.reduce((s, e) => s + Math.exp(e), 0)));
  closeTo(sums, new Float64Array(sums.length).fill(1), 1e-12, 'Σ exp');
});

test('l2Normalize has a finite, exact gradient at a zero vector (g / eps)', async () => {
  const graph = new Graph('normalize at zero');
  const x = graph.input('x', 'float32', [2, 3]);
  const c = graph.input('c', 'float32', [2, 3]);
  const [dx] = grad(l2Normalize(x, 1, 1e-3), [x], { seeds: [c] });
  graph.output('dx', dx!);
  const session = await Session.create(writeModel(graph).model, {}, graph.name);
  const seed = Float32Array.from([1, -2, 3, 0.5, 0.25, -1]);
  const out = (await session.run({ x: new Float32Array(6), c: seed }))['dx']!.data as Float32Array;
  await session.release();
  closeTo(out, Array.from(seed, (v) => v / 1e-3), 1e-6, 'dx');
});

const GRAD_CASES: readonly OpCase[] = [
  { op: 'l2Normalize', name: 'axis 1 of [3,4]', inputs: { x: { shape: [3, 4] } }, build: ({ x }) => l2Normalize(x!, 1) },
  { op: 'l2Normalize', name: 'channels of NCHW', inputs: { x: { shape: [2, 3, 2, 2] } }, build: ({ x }) => l2Normalize(x!, 1) },
  { op: 'cosineSimilarity', name: 'rows of [3,4]', inputs: { a: { shape: [3, 4] }, b: { shape: [3, 4] } }, build: ({ a, b }) => cosineSimilarity(a!, b!, 1) },
  { op: 'cosineSimilarity', name: 'axis 0, b broadcast', inputs: { a: { shape: [4, 3] }, b: { shape: [4, 1] } }, build: ({ a, b }) => cosineSimilarity(a!, b!, 0) },
  { op: 'logSumExp', name: 'axis -1', inputs: { x: { shape: [3, 5] } }, build: ({ x }) => logSumExp(x!, -1) },
  { op: 'logSumExp', name: 'axis 1 keepdims, wide logits', inputs: { x: { shape: [2, 4, 2], domain: { uniform: [-6, 6] } } }, build: ({ x }) => logSumExp(x!, 1, true) },
  { op: 'logSoftmax', name: 'axis -1', inputs: { x: { shape: [3, 5] } }, build: ({ x }) => logSoftmax(x!) },
  { op: 'logSoftmax', name: 'axis 0', inputs: { x: { shape: [4, 2] } }, build: ({ x }) => logSoftmax(x!, 0) },
];

const worst = new Map<string, number>();

for (const c of GRAD_CASES) {
  test(`gradient: ${c.op}: ${c.name}`, async () => {
    const r = await checkCase(c);
    worst.set(c.op, Math.max(worst.get(c.op) ?? 0, r.maxError));
    for (const [input, err] of Object.entries(r.errors)) assert.ok(err <= (c.tol ?? 5e-3), `${r.case}: gradient of '${input}' off by ${err.toExponential(2)}`);
  });
}

test.after(() => {
  const rows = [...worst.entries()].map(([n, e]) => `    ${n.padEnd(18)} ${e.toExponential(2)}`);
  console.log(`\n  max relative gradient error per composite (float32, central differences):\n${rows.join('\n')}`);
});

test.run();
