/**
 * The Conv VJP has several formulations per gradient (dX: one im2col of g with a Gemm or per-image
 * MatMuls, flipped-kernel Conv or ConvTranspose; dW: the same im2col of g, a Gemm over the im2col
 * of X, or a Conv over transposed X and g) and `auto` picks by layer shape, so the
 * finite-difference cases in cases.ts cannot reach every path. Here every applicable formulation
 * is run on the same inputs for many geometries, alone and as the VJP builds them (dX and dW from
 * one shared im2col), and must agree with the others to float32 rounding; the op-test table checks
 * the `auto` ones against finite differences.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Graph } from '../../src/onnx/ir.js';
import { type ConvAttrs, type ConvOptions, Conv, conv } from '../../src/onnx/ops/Conv.js';
import { type ConvInputGradMethod, type ConvWeightGradMethod, convGrads, convInputGrad, convWeightGrad } from '../../src/onnx/convGrad.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { Session } from '../../src/runtime/session.js';
import { sample } from './gradcheck.js';
import { uniformStream } from '../../src/data/rng.js';

interface Geometry {
  readonly x: readonly [number, number, number, number];
  readonly w: readonly [number, number, number, number];
  readonly options: ConvOptions;
}

const GEOMETRIES: readonly Geometry[] = [
  { x: [2, 3, 7, 6], w: [4, 3, 3, 3], options: { pads: 1 } },
  { x: [1, 4, 8, 7], w: [6, 4, 3, 3], options: { strides: 2, pads: 1 } },
  { x: [1, 2, 9, 8], w: [3, 2, 3, 2], options: { dilations: 2, pads: [2, 1, 1, 2] } },
  { x: [2, 4, 6, 6], w: [4, 2, 3, 3], options: { group: 2, pads: 1 } },
  { x: [1, 6, 7, 7], w: [6, 2, 3, 3], options: { group: 3, strides: 2, dilations: 2, pads: 2 } },
  { x: [2, 3, 6, 6], w: [5, 3, 1, 1], options: { strides: 2 } },
  { x: [2, 5, 5, 5], w: [3, 5, 1, 1], options: {} },
  { x: [1, 3, 5, 5], w: [2, 3, 1, 1], options: { pads: 1 } },
  { x: [1, 3, 11, 10], w: [4, 3, 5, 5], options: { strides: [2, 3], pads: [2, 1, 0, 2] } },
  { x: [1, 16, 6, 6], w: [8, 16, 3, 3], options: { pads: 1 } },
  { x: [1, 2, 30, 29], w: [2, 2, 3, 3], options: { pads: 1 } },
];

function describe(g: Geometry): string {
  return `X [${g.x}] W [${g.w}] ${JSON.stringify(g.options)}`;
}

for (const geo of GEOMETRIES) {
  test(`every dX and dW formulation agrees: ${describe(geo)}`, async () => {
    const graph = new Graph('conv grad methods');
    const x = graph.input('x', 'float32', geo.x);
    const w = graph.input('w', 'float32', geo.w);
    const y = conv(x, w, undefined, geo.options);
    const attrs = y.producer!.attrs as unknown as ConvAttrs;
    assert.ok(y.producer!.op === (Conv as unknown));
    const g = graph.input('g', 'float32', y.shape);
    const flippable = attrs.strides.every((s) => s === 1) && [0, 1, 2, 3].every((i) => attrs.dilations[i % 2]! * (attrs.kernel_shape[i % 2]! - 1) >= attrs.pads[i]!);
    const im2colOfG = flippable && attrs.group === 1;
    const dxMethods: ConvInputGradMethod[] = ['auto', 'convTranspose', ...(flippable ? (['conv'] as const) : []), ...(im2colOfG ? (['gemm', 'matMul'] as const) : [])];
    const dwMethods: ConvWeightGradMethod[] = ['auto', 'conv', ...(attrs.group === 1 ? (['gemm'] as const) : []), ...(im2colOfG ? (['matMul'] as const) : [])];
    for (const m of dxMethods) graph.output(`dx_${m}`, convInputGrad(g, w, x, attrs, m));
    for (const m of dwMethods) graph.output(`dw_${m}`, convWeightGrad(x, g, w, attrs, m));
    // Both at once, as the VJP asks: one im2col of g serves dX and dW.
    const joint = (im2colOfG ? (['gemm', 'matMul'] as const) : []).map((m) => ({ m, r: convGrads(x, g, w, attrs, { X: true, W: true }, { dX: m, dW: m }) }));
    for (const { m, r } of joint) {
      graph.output(`dx_joint_${m}`, r.X!);
      graph.output(`dw_joint_${m}`, r.W!);
    }
    const session = await Session.create(writeModel(graph).model, {}, graph.name);
    const random = uniformStream(11);
    const out = await session.run({ x: sample({ shape: geo.x }, random), w: sample({ shape: geo.w }, random), g: sample({ shape: y.shape }, random) });
    await session.release();
    const jointNames = joint.map((j) => `joint_${j.m}`);
    for (const [kind, methods] of [['dx', [...dxMethods, ...jointNames]], ['dw', [...dwMethods, ...jointNames]]] as const) {
      const ref = out[`${kind}_${methods[0]}`]!.data as Float32Array;
      const scale = Math.max(1e-6, ...Array.from(ref, Math.abs));
      for (const m of methods.slice(1)) {
        const other = out[`${kind}_${m}`]!.data as Float32Array;
        let worst = 0;
        for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(other[i]! - ref[i]!));
        assert.ok(worst / scale < 1e-5, `${kind} by '${m}' differs from 'auto' by ${(worst / scale).toExponential(2)} (relative)`);
      }
    }
  });
}

test('methods refuse geometries they cannot handle', () => {
  const graph = new Graph('refusals');
  const x = graph.input('x', 'float32', [1, 4, 6, 6]);
  const w = graph.input('w', 'float32', [4, 2, 3, 3]);
  const y = conv(x, w, undefined, { strides: 2, group: 2 });
  const g = graph.input('g', 'float32', y.shape);
  const attrs = y.producer!.attrs as unknown as ConvAttrs;
  assert.throws(() => convInputGrad(g, w, x, attrs, 'conv'), /needs stride 1/);
  assert.throws(() => convInputGrad(g, w, x, attrs, 'gemm'), /needs group 1, stride 1/);
  assert.throws(() => convWeightGrad(x, g, w, attrs, 'matMul'), /needs group 1, stride 1/);
  assert.throws(() => convWeightGrad(x, g, w, attrs, 'gemm'), /needs group 1/);
});

test.run();
