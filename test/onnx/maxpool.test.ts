/**
 * MaxPool's backward pass on inputs full of ties, where finite differences say nothing: the rule
 * (no Indices output) must send each output's cotangent to the first maximal element of its window
 * in row-major order, as PyTorch and ONNX Runtime pick. Checked exactly against a plain-JS
 * reference of that rule and, when /usr/bin/python3 has torch, against PyTorch's max_pool2d backward.
 */
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { grad } from '../../src/onnx/autodiff.js';
import { Graph } from '../../src/onnx/ir.js';
import { type MaxPoolOptions, maxPool } from '../../src/onnx/ops/MaxPool.js';
import { pair, quad } from '../../src/onnx/window.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { Session } from '../../src/runtime/session.js';
import { uniformStream } from '../../src/data/rng.js';

const PYTHON = '/usr/bin/python3';

interface Setting {
  readonly name: string;
  readonly shape: readonly [number, number, number, number];
  readonly options: MaxPoolOptions;
}

const SETTINGS: readonly Setting[] = [
  { name: 'k3 s2 p1', shape: [2, 3, 7, 8], options: { kernel: 3, strides: 2, pads: 1 } },
  { name: 'k2 s1 (overlapping windows)', shape: [1, 2, 5, 6], options: { kernel: 2, strides: 1 } },
  { name: 'k3 s1 p2 dilation 2', shape: [1, 2, 6, 7], options: { kernel: 3, strides: 1, pads: 2, dilations: 2 } },
];

/** dX by the stated rule: each window's cotangent to its first maximum in row-major order. */
function reference(x: Float32Array, g: Float32Array, s: Setting, out: readonly number[]): Float64Array {
  const [n, c, h, w] = s.shape;
  const [kh, kw] = pair(s.options.kernel, 1);
  const [sh, sw] = pair(s.options.strides, 1);
  const [dh, dw] = pair(s.options.dilations, 1);
  const [pt, pl] = quad(s.options.pads);
  const [ho, wo] = [out[2]!, out[3]!];
  const dx = new Float64Array(x.length);
  for (let b = 0; b < n * c; b++) {
    for (let i = 0; i < ho; i++) {
      for (let j = 0; j < wo; j++) {
        let best = -1;
        for (let a = 0; a < kh; a++) {
          for (let e = 0; e < kw; e++) {
            const [r, q] = [i * sh - pt + a * dh, j * sw - pl + e * dw];
            if (r < 0 || r >= h || q < 0 || q >= w) continue;
            const at = b * h * w + r * w + q;
            if (best < 0 || x[at]! > x[best]!) best = at;
          }
        }
        dx[best] += g[b * ho * wo + i * wo + j]!;
      }
    }
  }
  return dx;
}

async function ours(x: Float32Array, g: Float32Array, s: Setting): Promise<Float32Array> {
  const graph = new Graph(`maxpool ties ${s.name}`);
  const xv = graph.input('x', 'float32', s.shape);
  const y = maxPool(xv, s.options);
  const seed = graph.input('g', 'float32', y.shape);
  const [dx] = grad(y, [xv], { seeds: [seed] });
  graph.output('dx', dx!);
  const session = await Session.create(writeModel(graph).model, {}, graph.name);
  const r = await session.run({ x, g });
  await session.release();
  return r['dx']!.data as Float32Array;
}

function torchGrad(x: Float32Array, g: Float32Array, s: Setting, out: readonly number[]): Float64Array | null {
  const [pt, pl, pb, pr] = quad(s.options.pads);
  if (pt !== pb || pl !== pr) return null;
  const script = `
import json, sys, torch
a = json.load(sys.stdin)
x = torch.tensor(a['x'], dtype=torch.float32).reshape(a['shape']).requires_grad_()
y = torch.nn.functional.max_pool2d(x, a['k'], a['s'], a['p'], a['d'])
y.backward(torch.tensor(a['g'], dtype=torch.float32).reshape(y.shape))
print(json.dumps(x.grad.flatten().tolist()))
`;
  const input = { x: [...x], g: [...g], shape: s.shape, k: pair(s.options.kernel, 1), s: pair(s.options.strides, 1), p: [pt, pl], d: pair(s.options.dilations, 1), out };
  const run = spawnSync(PYTHON, ['-c', script], { input: JSON.stringify(input), encoding: 'utf8' });
  if (run.status !== 0) return null;
  return Float64Array.from(JSON.parse(run.stdout) as number[]);
}

const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

for (const s of SETTINGS) {
  test(`MaxPool backward with ties (${s.name}): first maximum in row-major window order`, async () => {
    const random = uniformStream(7);
    const size = s.shape.reduce((a, b) => a * b, 1);
    const x = Float32Array.from({ length: size }, () => Math.floor(random() * 3)); // values 0, 1, 2: many ties
    const graphOut = maxPoolShape(s);
    const g = Float32Array.from({ length: graphOut.reduce((a, b) => a * b, 1) }, () => Math.round((random() * 2 - 1) * 64) / 16);
    const dx = await ours(x, g, s);
    const want = reference(x, g, s, graphOut);
    assert.equal([...dx], [...want].map(Math.fround), 'our VJP equals the first-maximum reference');
    if (hasTorch) {
      const t = torchGrad(x, g, s, graphOut);
      if (t) assert.equal([...dx], [...t].map(Math.fround), 'our VJP equals PyTorch max_pool2d backward');
    }
  });
}

function maxPoolShape(s: Setting): number[] {
  const graph = new Graph('shape');
  return [...maxPool(graph.input('x', 'float32', s.shape), s.options).shape];
}

if (!hasTorch) test.skip(`PyTorch cross-check of MaxPool ties (${PYTHON} has no torch; CI installs python3-torch)`, () => undefined);

test.run();
