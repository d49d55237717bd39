/**
 * Build-time failures: each shape-rule error names the op, the scope it was built in and every
 * input's shape and dtype; each refused gradient names the op, the node, the input and the reason.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { grad } from '../../src/onnx/autodiff.js';
import { type DType, formatShape } from '../../src/onnx/dtype.js';
import { GradError, ShapeError } from '../../src/onnx/errors.js';
import { Graph, type Value } from '../../src/onnx/ir.js';
import * as op from '../../src/onnx/ops/index.js';

type Spec = readonly number[] | { readonly shape: readonly number[]; readonly dtype: DType };

interface ErrorCase {
  readonly op: string;
  readonly inputs: readonly Spec[];
  readonly build: (...x: Value[]) => unknown;
  readonly message: string;
}

const SHAPE_ERRORS: readonly ErrorCase[] = [
  { op: 'MatMul', inputs: [[2, 3], [4, 5]], build: (a, b) => op.matMul(a!, b!), message: 'inner dimensions differ: A has 3 columns, B has 4 rows' },
  { op: 'MatMul', inputs: [[2, 3, 4], [3, 4, 5]], build: (a, b) => op.matMul(a!, b!), message: 'batch shapes [2] and [3] do not broadcast' },
  { op: 'MatMul', inputs: [[3], [3, 2]], build: (a, b) => op.matMul(a!, b!), message: '1-D operands are not supported' },
  { op: 'Gemm', inputs: [[3, 4], [5, 2]], build: (a, b) => op.gemm(a!, b!), message: 'inner dimensions differ: op(A) is 3×4, op(B) is 5×2' },
  { op: 'Gemm', inputs: [[3, 4], [4, 2], [3]], build: (a, b, c) => op.gemm(a!, b!, c!), message: 'C of shape [3] does not broadcast to [3,2]' },
  { op: 'Gemm', inputs: [[2, 3, 4], [4, 2]], build: (a, b) => op.gemm(a!, b!), message: 'A and B must be matrices, got ranks 3 and 2' },
  { op: 'Concat', inputs: [[2, 3], [2, 3, 1]], build: (a, b) => op.concat([a!, b!], 0), message: 'input 1 has rank 3 but input 0 has rank 2' },
  { op: 'Concat', inputs: [[2, 3], [2, 4], [3, 3]], build: (a, b, c) => op.concat([a!, b!, c!], 0), message: 'input 1 differs from input 0 on axis 1 (4 vs 3); only axis 0 may differ' },
  { op: 'Reshape', inputs: [[2, 3]], build: (x) => op.reshape(x!, [4, 2]), message: 'cannot reshape 6 elements to [4,2]' },
  { op: 'Add', inputs: [[2, 3], [4]], build: (a, b) => op.add(a!, b!), message: 'shapes [2,3] and [4] do not broadcast' },
  { op: 'Max', inputs: [[2, 3], [2]], build: (a, b) => op.max(a!, b!), message: 'shapes [2,3] and [2] do not broadcast' },
  { op: 'Softmax', inputs: [[2, 3]], build: (x) => op.softmax(x!, 2), message: 'axis 2 is out of range for rank 2' },
  { op: 'Gather', inputs: [[4, 3], [2]], build: (x, i) => op.gather(x!, i!), message: 'indices must be int64 or int32, got float32' },
  { op: 'Gather', inputs: [[4, 3], { shape: [2], dtype: 'int64' }], build: (x, i) => op.gather(x!, i!, 2), message: 'axis 2 is out of range for rank 2' },
  { op: 'Slice', inputs: [[4, 5]], build: (x) => op.slice(x!, [4], [0], [1], [-1]), message: 'step -1 on axis 1: only positive steps are supported' },
  { op: 'Slice', inputs: [[4, 5]], build: (x) => op.slice(x!, [0, 0], [2], [0, 1]), message: 'one entry per sliced axis' },
  { op: 'Pad', inputs: [[2, 3]], build: (x) => op.pad(x!, [1, -1, 0, 0]), message: 'are negative; crop with slice instead' },
  { op: 'Pad', inputs: [[2, 3]], build: (x) => op.pad(x!, [1, 1]), message: 'pads has 2 entries; 2 padded axes need 4' },
  { op: 'Squeeze', inputs: [[2, 1]], build: (x) => op.squeeze(x!, [0]), message: 'axis 0 has size 2, not 1' },
  { op: 'Unsqueeze', inputs: [[2, 3]], build: (x) => op.unsqueeze(x!, [3]), message: 'axis 3 is out of range for output rank 3' },
  { op: 'Flatten', inputs: [[2, 3]], build: (x) => op.flatten(x!, 3), message: 'axis 3 is out of range [-2, 2]' },
  { op: 'Clip', inputs: [[2, 3], [1]], build: (x, m) => op.clip(x!, { min: m! }), message: 'min must be a scalar (shape []), got [1]' },
  { op: 'Pow', inputs: [{ shape: [2], dtype: 'int64' }, { shape: [2], dtype: 'int64' }], build: (a, b) => op.pow(a!, b!), message: 'needs float32 or float64 inputs, got int64' },
  { op: 'Not', inputs: [[2]], build: (x) => op.not(x!), message: 'needs a bool input, got float32' },
  { op: 'Cast', inputs: [[2]], build: (x) => op.Cast.call({ input: x! }, { to: 99 }), message: 'target type code 99 is not one of 1 (float32)' },
];

const shapeOf = (s: Spec) => ('shape' in s ? s.shape : s);
const dtypeOf = (s: Spec): DType => ('dtype' in s ? s.dtype : 'float32');

for (const c of SHAPE_ERRORS) {
  test(`${c.op}: ${c.message}`, () => {
    const graph = new Graph('shape errors');
    const x = c.inputs.map((s, i) => graph.input(`x${i}`, dtypeOf(s), shapeOf(s)));
    try {
      graph.scope('head', () => graph.scope('proj', () => c.build(...x)));
    } catch (e) {
      assert.instance(e, ShapeError);
      const m = (e as Error).message;
      assert.ok(m.startsWith(`${c.op} (scope 'head.proj'): `), `names the op and scope: ${m}`);
      assert.ok(m.includes(c.message), `says what is wrong (${c.message}): ${m}`);
      for (const v of x) assert.ok(m.includes(`${formatShape(v.shape)}:${v.dtype}`), `names input shape ${formatShape(v.shape)}: ${m}`);
      return;
    }
    assert.unreachable(`${c.op} accepted the shapes`);
  });
}

/** Gradients that are refused: `build` returns [output, wrt]. */
const REFUSED: readonly { readonly name: string; readonly build: (g: Graph) => [Value, Value]; readonly message: RegExp }[] = [
  {
    name: 'ReduceMax outside StopGradient',
    build: (g) => {
      const x = g.input('x', 'float32', [2, 3]);
      return [op.reduceSum(op.reduceMax(x, [1])), x];
    },
    message: /^ReduceMax 'head\/ReduceMax_0': the gradient with respect to input 'data' is not implemented \(used only behind StopGradient/,
  },
  {
    name: 'a Clip bound',
    build: (g) => {
      const [x, m] = [g.input('x', 'float32', [3]), g.input('m', 'float32', [])];
      return [op.reduceSum(op.clip(x, { min: m })), m];
    },
    message: /^Clip 'head\/Clip_0': the gradient with respect to input 'min' is not implemented/,
  },
  {
    name: 'reflect padding',
    build: (g) => {
      const x = g.input('x', 'float32', [2, 3]);
      return [op.reduceSum(op.pad(x, [0, 1, 0, 1], { mode: 'reflect' })), x];
    },
    message: /^Pad: the gradient of mode 'reflect' is not implemented/,
  },
  {
    name: 'ScatterElements updates',
    build: (g) => {
      const [d, u, i] = [g.input('d', 'float32', [3]), g.input('u', 'float32', [2]), g.input('i', 'int64', [2])];
      return [op.reduceSum(op.scatterElements(d, i, u)), u];
    },
    message: /input 'updates' is not implemented \(used only inside VJP rules\)/,
  },
];

for (const c of REFUSED) {
  test(`gradient refused: ${c.name}`, () => {
    const graph = new Graph('refused');
    const [y, wrt] = graph.scope('head', () => c.build(graph));
    assert.throws(() => grad(y, [wrt]), (e: Error) => e instanceof GradError && c.message.test(e.message));
  });
}

test.run();
