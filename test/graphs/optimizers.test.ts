/**
 * The in-graph optimizers against a float64 JavaScript implementation of the same formulas (PyTorch
 * SGD semantics; PixPro/BYOL LARS), over several steps, with both parameter groups, a changing
 * learning rate, and the zero-norm branches of the trust ratio.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NAMES } from '../../src/graphs/io.js';
import { type OptimizerKind, appendOptimizerStep, assembleTrainStep } from '../../src/graphs/optimizers.js';
import { Graph, type ParamGroup, type Value } from '../../src/onnx/ir.js';
import { add, mul, reduceMean, reduceSum } from '../../src/onnx/ops/index.js';
import { readModel, writeModel } from '../../src/onnx/serialize.js';
import { TensorStore } from '../../src/runtime/residency.js';
import { Session } from '../../src/runtime/session.js';
import { uniformStream } from '../../src/data/rng.js';


function normals(n: number, r: () => number, scale = 1): number[] {
  return Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
}

interface RefParam {
  p: number[];
  buf: number[];
  readonly group: ParamGroup;
}

/** One step of the reference optimizer, in float64, in place. */
function refStep(kind: OptimizerKind, params: RefParam[], grads: number[][], lr: number, wd: number, mu: number, eta: number, eps = 0): void {
  params.forEach((P, k) => {
    const g = grads[k]!;
    let d = P.group === 'decay' ? g.map((gi, i) => gi + wd * P.p[i]!) : [...g];
    if (kind === 'lars' && P.group === 'decay') {
      const pn = Math.hypot(...P.p);
      const dn = Math.hypot(...d);
      const q = pn > 0 && dn > 0 ? (eta * pn) / (dn + eps) : 1;
      d = d.map((x) => q * x);
    }
    P.buf = P.buf.map((b, i) => mu * b + d[i]!);
    P.p = P.p.map((x, i) => x - lr * P.buf[i]!);
  });
}

function relErr(got: ArrayLike<number>, want: readonly number[]): number {
  let worst = 0;
  let scale = 1e-12;
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs(Number(got[i]) - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return worst / scale;
}

const worst = new Map<string, { p: number; buf: number }>();
test.after(() => {
  const rows = [...worst].map(([k, v]) => `    ${k.padEnd(18)} parameters ${v.p.toExponential(2)}   momentum ${v.buf.toExponential(2)}`);
  console.log(`\n  float32 graph vs float64 reference, max relative error over 6 steps and 3 tensors:\n${rows.join('\n')}`);
});

const SPECS: readonly { name: string; shape: number[]; group: ParamGroup; zero?: boolean }[] = [
  { name: 'conv.weight', shape: [4, 3], group: 'decay' },
  { name: 'bn.bias', shape: [3], group: 'no_decay' },
  { name: 'zero.weight', shape: [2, 2], group: 'decay', zero: true }, // ‖p‖ = 0 at the start
];

for (const kind of ['sgd', 'lars'] as const) {
  for (const eta of kind === 'lars' ? [0.001, 0.5] : [0.001]) {
    test(`${kind}${kind === 'lars' ? ` (η=${eta})` : ''}: 6 steps match the float64 reference, both groups`, async () => {
      const mu = 0.9;
      const g = new Graph(`opt-${kind}`);
      const pairs = SPECS.map((s) => {
        const param = g.param(s.name, s.shape, { kind: 'constant', value: 0 }, s.group);
        return { param, grad: g.input(`grad.${s.name}`, 'float32', s.shape), group: s.group };
      });
      const step = appendOptimizerStep(g, pairs, { kind, momentum: mu, trustCoefficient: eta });
      assert.equal(step.state, SPECS.map((s) => `momentum.${s.name}`));
      const session = await Session.create(writeModel(g).model, {}, g.name);

      const r = uniformStream(kind === 'sgd' ? 1 : 2);
      const ref: RefParam[] = SPECS.map((s) => {
        const n = s.shape.reduce((a, b) => a * b, 1);
        return { p: s.zero ? new Array(n).fill(0) : normals(n, r), buf: new Array(n).fill(0), group: s.group };
      });
      const store = new TensorStore();
      SPECS.forEach((s, k) => {
        store.set(s.name, Float32Array.from(ref[k]!.p));
        store.set(`momentum.${s.name}`, new Float32Array(ref[k]!.p.length));
      });
      const wd = 0.05;
      for (let t = 0; t < 6; t++) {
        const lr = 0.2 * (1 - t / 8);
        // Step 0 gives the zero parameter a zero gradient: with p = 0 as well, ‖d‖ = 0 (q = 1 branch).
        const grads = SPECS.map((s, k) => (s.zero && t === 0 ? new Array(ref[k]!.p.length).fill(0) : normals(ref[k]!.p.length, r, 0.5)));
        // The reference sees the float32-rounded parameters the graph sees.
        ref.forEach((P, k) => {
          P.p = Array.from(Float32Array.from(P.p));
          P.buf = Array.from(Float32Array.from(P.buf));
          grads[k] = Array.from(Float32Array.from(grads[k]!));
        });
        refStep(kind, ref, grads, Math.fround(lr), Math.fround(wd), mu, eta);
        const feeds = { ...store.feeds(), lr: Float32Array.of(lr), weight_decay: Float32Array.of(wd), ...Object.fromEntries(SPECS.map((s, k) => [`grad.${s.name}`, Float32Array.from(grads[k]!)])) };
        const result = await session.execute(feeds);
        store.advance(result);
        result.dispose();
        for (const [k, s] of SPECS.entries()) {
          const p = (await store.read(s.name)) as Float32Array;
          const buf = (await store.read(`momentum.${s.name}`)) as Float32Array;
          const key = `${kind}${kind === 'lars' ? ` η=${eta}` : ''}`;
          const w = worst.get(key) ?? { p: 0, buf: 0 };
          worst.set(key, { p: Math.max(w.p, relErr(p, ref[k]!.p)), buf: Math.max(w.buf, relErr(buf, ref[k]!.buf)) });
          assert.ok(relErr(p, ref[k]!.p) < 2e-6, `step ${t} ${s.name}: parameter off by ${relErr(p, ref[k]!.p).toExponential(2)}`);
          assert.ok(relErr(buf, ref[k]!.buf) < 2e-5, `step ${t} ${s.name}: momentum off by ${relErr(buf, ref[k]!.buf).toExponential(2)}`);
        }
      }
      store.dispose();
      await session.release();
    });
  }
}

test('larsEps (PixPro) adds eps to ‖d‖ in the trust ratio', async () => {
  const g = new Graph('eps');
  const w = g.param('w', [2], { kind: 'constant', value: 0 }, 'decay');
  appendOptimizerStep(g, [{ param: w, grad: g.input('gw', 'float32', [2]), group: 'decay' }], { kind: 'lars', larsEps: 0.5 });
  const s = await Session.create(writeModel(g).model, {}, 'eps');
  const out = await s.run({ w: Float32Array.of(3, 4), gw: Float32Array.of(0, 1), 'momentum.w': new Float32Array(2), lr: Float32Array.of(1), weight_decay: Float32Array.of(0) });
  const ref: RefParam[] = [{ p: [3, 4], buf: [0, 0], group: 'decay' }];
  refStep('lars', ref, [[0, 1]], 1, 0, 0.9, 0.001, 0.5);
  assert.ok(relErr(out['next.momentum.w']!.data as Float32Array, ref[0]!.buf) < 1e-6);
  await s.release();
});

test('LARS adapts only the decay group; SGD decays only the decay group', async () => {
  // One step from zero momentum, lr 1, wd 0: the update is q·g for LARS-decay and g otherwise.
  for (const kind of ['sgd', 'lars'] as const) {
    const g = new Graph('groups');
    const w = g.param('w', [2], { kind: 'constant', value: 0 }, 'decay');
    const b = g.param('b', [2], { kind: 'constant', value: 0 }, 'no_decay');
    const gw = g.input('gw', 'float32', [2]);
    const gb = g.input('gb', 'float32', [2]);
    appendOptimizerStep(g, [{ param: w, grad: gw, group: 'decay' }, { param: b, grad: gb, group: 'no_decay' }], { kind });
    const s = await Session.create(writeModel(g).model, {}, 'groups');
    const out = await s.run({ w: Float32Array.of(3, 4), b: Float32Array.of(3, 4), gw: Float32Array.of(0, 1), gb: Float32Array.of(0, 1), 'momentum.w': new Float32Array(2), 'momentum.b': new Float32Array(2), lr: Float32Array.of(1), weight_decay: Float32Array.of(1) });
    // decay: d = g + p = (3, 5); LARS q = 0.001·5/√34.
    const q = kind === 'lars' ? (0.001 * 5) / Math.sqrt(34) : 1;
    assert.ok(relErr(out['next.momentum.w']!.data as Float32Array, [3 * q, 5 * q]) < 1e-6);
    assert.equal(Array.from(out['next.momentum.b']!.data as Float32Array), [0, 1]);
    assert.equal(Array.from(out['next.b']!.data as Float32Array), [3, 3]);
    await s.release();
  }
});

/** y = x·w + b per feature, loss = mean(y²), plus a running mean of x recorded as a buffer update. */
function smallModel(): { g: Graph; loss: Value } {
  const g = new Graph('small');
  const x = g.input('x', 'float32', [4, 3]);
  const w = g.param('w', [3], { kind: 'constant', value: 0 }, 'decay');
  const b = g.param('b', [3], { kind: 'constant', value: 0 }, 'no_decay');
  const running = g.buffer('running_mean', [3], { kind: 'constant', value: 0 });
  g.updateBuffer(running, add(mul(running, 0.9), mul(reduceMean(x, [0]), 0.1)));
  const y = add(mul(x, w), b);
  return { g, loss: reduceMean(mul(y, y)) };
}

test('assembleTrainStep: loss, buffer updates, next params/state and grad_norm match the reference', async () => {
  const { g, loss } = smallModel();
  const step = assembleTrainStep(g, loss, { kind: 'lars', momentum: 0.9 });
  assert.equal(step.outputs, ['loss', 'next.running_mean', 'next.w', 'next.momentum.w', 'next.b', 'next.momentum.b', NAMES.gradNorm]);
  assert.equal(step.params, [{ name: 'w', group: 'decay' }, { name: 'b', group: 'no_decay' }]);
  assert.equal(step.state, ['momentum.w', 'momentum.b']);
  assert.equal(step.buffers, ['running_mean']);
  const roles = readModel(writeModel(g).model).inputs.map((i) => `${i.value.name}:${i.role}${i.group ? '/' + i.group : ''}`);
  assert.equal(roles, ['x:data', 'w:param/decay', 'b:param/no_decay', 'running_mean:buffer', 'lr:hyper', 'weight_decay:hyper', 'momentum.w:state', 'momentum.b:state']);

  const s = await Session.create(writeModel(g).model, {}, 'small');
  const r = uniformStream(7);
  const x = Float32Array.from(normals(12, r));
  const w = Float32Array.from(normals(3, r));
  const b = Float32Array.from(normals(3, r));
  const out = await s.execute({ x, w, b, running_mean: Float32Array.of(1, 1, 1), lr: Float32Array.of(0.1), weight_decay: Float32Array.of(0.01), 'momentum.w': new Float32Array(3), 'momentum.b': new Float32Array(3) });
  // Reference: dL/dy = 2y/12; dL/dw_j = Σ_n dy·x, dL/db_j = Σ_n dy.
  const gw = [0, 0, 0];
  const gb = [0, 0, 0];
  let L = 0;
  for (let n = 0; n < 4; n++) {
    for (let j = 0; j < 3; j++) {
      const y = x[n * 3 + j]! * w[j]! + b[j]!;
      L += (y * y) / 12;
      gw[j] += ((2 * y) / 12) * x[n * 3 + j]!;
      gb[j] += (2 * y) / 12;
    }
  }
  assert.ok(Math.abs((await out.scalar('loss')) - L) < 1e-5 * L);
  assert.ok(Math.abs((await out.scalar('grad_norm')) - Math.hypot(...gw, ...gb)) < 1e-5 * Math.hypot(...gw, ...gb));
  const ref: RefParam[] = [{ p: Array.from(w), buf: [0, 0, 0], group: 'decay' }, { p: Array.from(b), buf: [0, 0, 0], group: 'no_decay' }];
  refStep('lars', ref, [gw, gb], Math.fround(0.1), Math.fround(0.01), 0.9, 0.001);
  assert.ok(relErr(out.host('next.w') as Float32Array, ref[0]!.p) < 1e-6);
  assert.ok(relErr(out.host('next.b') as Float32Array, ref[1]!.p) < 1e-6);
  assert.ok(relErr(out.host('next.momentum.w') as Float32Array, ref[0]!.buf) < 1e-5);
  const mean = [0, 1, 2].map((j) => (x[j]! + x[3 + j]! + x[6 + j]! + x[9 + j]!) / 4);
  assert.ok(relErr(out.host('next.running_mean') as Float32Array, mean.map((m) => 0.9 + 0.1 * m)) < 1e-6);
  out.dispose();
  await s.release();
});

test('a parameter the loss ignores is an error, or passes through unchanged with allowUnused', async () => {
  const build = () => {
    const { g, loss } = smallModel();
    g.param('head.weight', [2], { kind: 'constant', value: 0 });
    return { g, loss };
  };
  const a = build();
  assert.throws(() => assembleTrainStep(a.g, a.loss, { kind: 'sgd' }), /the loss does not depend on parameter 'head.weight'; fix the wiring or pass allowUnused/);
  const { g, loss } = build();
  assembleTrainStep(g, loss, { kind: 'sgd', allowUnused: true });
  const s = await Session.create(writeModel(g).model, {}, 'unused');
  const out = await s.run({
    x: new Float32Array(12).fill(1), w: Float32Array.of(1, 2, 3), b: new Float32Array(3), 'head.weight': Float32Array.of(5, 6), running_mean: new Float32Array(3),
    lr: Float32Array.of(0.1), weight_decay: Float32Array.of(0.1), 'momentum.w': new Float32Array(3), 'momentum.b': new Float32Array(3), 'momentum.head.weight': Float32Array.of(7, 8),
  });
  assert.equal(Array.from(out['next.head.weight']!.data as Float32Array), [5, 6]);
  assert.equal(Array.from(out['next.momentum.head.weight']!.data as Float32Array), [7, 8]);
  await s.release();
});

test('hyper-parameter inputs are shared, and a clashing input is refused', () => {
  const g = new Graph('clash');
  g.input('lr', 'float32', [1]);
  const w = g.param('w', [2], { kind: 'constant', value: 0 });
  assert.throws(() => appendOptimizerStep(g, [{ param: w, grad: w, group: 'decay' }], { kind: 'sgd' }), /already has an input 'lr' \(lr<float32,\[1\]>, role data\); the optimizer needs it as a float32 scalar with role 'hyper'/);
  const loss = (() => {
    const h = new Graph('loss-of-shape-1'); // a [1] loss counts as a scalar
    const p = h.param('p', [2], { kind: 'constant', value: 0 });
    return { h, l: reduceSum(p, [0], true) };
  })();
  assert.not.throws(() => assembleTrainStep(loss.h, loss.l, { kind: 'sgd' }));
});

test.run();
