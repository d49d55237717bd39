/**
 * Foundation proof 1: the loss and every parameter gradient of a small CNN + MLP with a BYOL cosine
 * loss, built by our graph builder and differentiated by our autodiff, match PyTorch autograd
 * (tools/torch_foundation.py, an independent torch.nn implementation run in float64) on the same
 * weights and inputs, to a relative error of 1e-3 (max |ours − torch| / max |torch| per tensor).
 * The BN running-statistics updates are compared too.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assembleGradGraph } from '../../src/graphs/optimizers.js';
import { cosineSimilarity } from '../../src/onnx/composite/math.js';
import { Graph } from '../../src/onnx/ir.js';
import { mul, reduceMean, stopGradient, sub } from '../../src/onnx/ops/index.js';
import { writeModel } from '../../src/onnx/serialize.js';
import type { ExecutionProvider } from '../../src/runtime/providers.js';
import { Session } from '../../src/runtime/session.js';
import { type TensorMap, f32, readSafetensors, writeSafetensors } from '../../src/bundle/safetensors.js';
import { initInputs, normal, relErr, smallByolNet } from './model.js';
import { uniformStream } from '../../src/data/rng.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PYTHON = '/usr/bin/python3';
const TOLERANCE = 1e-3;
const B = 4;
const S = 12;

const errors: [string, number][] = [];
let epUsed = 'cpu';
test.after(() => {
  const rows = errors.map(([n, e]) => `    ${n.padEnd(60)} ${e.toExponential(2)}`).join('\n');
  console.log(`\n  ours (float32, ONNX Runtime ${epUsed}) vs PyTorch autograd (float64), max |Δ| / max |torch|:\n${rows}`);
});

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

test('loss, gradients and BN updates of a CNN + MLP + BYOL loss match PyTorch autograd', async () => {
  const g = new Graph('byol-small');
  const x1 = g.input('x1', 'float32', [B, 3, S, S]);
  const x2 = g.input('x2', 'float32', [B, 3, S, S]);
  const p = g.scope('online', () => smallByolNet(g, x1, true));
  const z = g.scope('target', () => smallByolNet(g, x2, false));
  // BYOL: 2 − 2·cos(p, sg(z)), averaged over the batch.
  const loss = reduceMean(sub(2, mul(2, cosineSimilarity(p, stopGradient(z), 1))));
  const onlineParams = g.inputs.filter((i) => i.role === 'param' && i.value.name.startsWith('online.')).map((i) => i.value);
  const outputs = assembleGradGraph(g, loss, { bufferUpdates: true, params: onlineParams });
  assert.is(onlineParams.length, 13);

  const values = initInputs(g, 11, true);
  const r = uniformStream(5);
  values.set('x1', Float32Array.from({ length: B * 3 * S * S }, () => normal(r)));
  values.set('x2', Float32Array.from({ length: B * 3 * S * S }, () => normal(r)));

  const dir = mkdtempSync(join(tmpdir(), 'multisiam-parity-'));
  try {
    const tensors: TensorMap = new Map();
    for (const input of g.inputs) tensors.set(input.value.name, f32(values.get(input.value.name)!, [...input.value.shape]));
    writeSafetensors(join(dir, 'in.safetensors'), tensors);
    const py = spawnSync(PYTHON, [join(root, 'tools', 'torch_foundation.py'), join(dir, 'in.safetensors'), join(dir, 'out.safetensors')], { encoding: 'utf8' });
    if (py.status !== 0) {
      assert.unreachable(`${PYTHON} tools/torch_foundation.py failed (status ${py.status}); PyTorch comes from the Debian package python3-torch:\n${py.stderr || py.error?.message}`);
    }
    const ref = readSafetensors(join(dir, 'out.safetensors')).tensors;

    // MULTISIAM_TEST_EP=webgpu|cuda|auto runs our side on that provider instead of the CPU.
    const s = await Session.create(writeModel(g).model, { ep: (process.env['MULTISIAM_TEST_EP'] ?? 'cpu') as ExecutionProvider }, g.name);
    epUsed = s.ep;
    const result = await s.run(Object.fromEntries(values));
    await s.release();

    let compared = 0;
    const gradScale = Math.max(...outputs.filter((n) => n.startsWith('grad.')).map((n) => maxAbs(ref.get(n)!.data as Float64Array)));
    for (const name of outputs) {
      const want = ref.get(name);
      assert.ok(want, `PyTorch gave no '${name}'`);
      const got = result[name]!.data as Float32Array;
      const ref64 = want!.data as Float64Array;
      compared++;
      if (maxAbs(ref64) < 1e-12) {
        // A bias right before a training-mode BN (fc1.bias) has an exactly zero gradient: BN
        // subtracts the batch mean. A relative error is meaningless there; ours must be ~0 too.
        // Measured against the largest gradient of the network instead.
        const err = maxAbs(got) / gradScale;
        errors.push([`${name} (0 in torch; max |ours| / max |any torch grad|)`, err]);
        assert.ok(err <= TOLERANCE, `${name}: torch's gradient is 0, ours is up to ${maxAbs(got)} (${err.toExponential(2)} of the largest gradient)`);
        continue;
      }
      const err = relErr(got, ref64);
      errors.push([name, err]);
      assert.ok(err <= TOLERANCE, `${name}: relative error ${err.toExponential(2)} > ${TOLERANCE}`);
    }
    // 1 loss + 4 BN layers × 2 statistics + 13 gradients.
    assert.is(compared, 1 + 8 + 13);
    const lossValue = (result['loss']!.data as Float32Array)[0]!;
    assert.ok(lossValue > 0.1 && lossValue < 3.9, `a non-degenerate loss (${lossValue})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
