/**
 * Runs the backbone's forward and backward graphs on a GPU execution provider with CPU fallback
 * disabled (every node must have a kernel there) and compares each output with the CPU EP: MaxPool
 * backward (no Indices output), the BN composite in training mode, every Conv gradient formulation,
 * and a whole ResNet-18 (width 1/4, output stride 16) loss + parameter gradients. Prints figures and
 * exits non-zero on a failure or a relative difference above 1e-4.
 *
 *   node dist/tools/check-backbone-ep.js [--ep webgpu|cuda]
 *
 * Without a GPU, WebGPU runs on Mesa's lavapipe (see shared/reference/ort-node-facts.md): set
 * VK_ICD_FILENAMES and LD_LIBRARY_PATH to an unpacked mesa-vulkan-drivers ≥ 25.
 */
import { resnet } from '../src/graphs/resnet.js';
import { grad } from '../src/onnx/autodiff.js';
import { batchNorm } from '../src/onnx/composite/batchNorm.js';
import { Graph } from '../src/onnx/ir.js';
import { type ConvAttrs, type ConvOptions, conv } from '../src/onnx/ops/Conv.js';
import { type ConvInputGradMethod, type ConvWeightGradMethod, convInputGrad, convWeightGrad } from '../src/onnx/convGrad.js';
import { maxPool } from '../src/onnx/ops/MaxPool.js';
import { mul } from '../src/onnx/ops/Mul.js';
import { reduceMean } from '../src/onnx/ops/ReduceMean.js';
import { writeModel } from '../src/onnx/serialize.js';
import type { ExecutionProvider } from '../src/runtime/providers.js';
import { Session } from '../src/runtime/session.js';
import { uniformStream } from '../src/data/rng.js';

const i = process.argv.indexOf('--ep');
const ep = (i < 0 ? 'webgpu' : process.argv[i + 1]) as ExecutionProvider;
let failures = 0;

/** Seeded normals (or U(0.5, 1.5) when `positive`), deterministic. */
function normals(n: number, seed: number, positive = false): Float32Array {
  const next = uniformStream(seed);
  return Float32Array.from({ length: n }, () => (positive ? 0.5 + next() : Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next())));
}

async function check(name: string, g: Graph): Promise<void> {
  const feeds: Record<string, Float32Array> = {};
  g.inputs.forEach((input, k) => (feeds[input.value.name] = normals(input.value.size, 100 + k, input.value.name.endsWith('running_var'))));
  const bytes = writeModel(g).model;
  try {
    const cpu = await Session.create(bytes, { ep: 'cpu' }, name);
    const dev = await Session.create(bytes, { ep, deviceOnly: true }, name);
    const [a, b] = [await cpu.run(feeds), await dev.run(feeds)];
    let worst = 0;
    let where = '';
    for (const k of Object.keys(a)) {
      const [x, y] = [a[k]!.data as Float32Array, b[k]!.data as Float32Array];
      let d = 0;
      let s = 1e-12;
      for (let j = 0; j < x.length; j++) {
        d = Math.max(d, Math.abs(x[j]! - y[j]!));
        s = Math.max(s, Math.abs(x[j]!));
      }
      if (d / s > worst) [worst, where] = [d / s, k];
    }
    await cpu.release();
    await dev.release();
    const ok = worst <= 1e-4;
    if (!ok) failures++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${name.padEnd(58)} max rel diff vs CPU ${worst.toExponential(2)} (${where})`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${(e as Error).message.split('\n')[0]}`);
  }
}

{
  const g = new Graph('maxpool');
  const x = g.input('x', 'float32', [2, 4, 9, 8]);
  const y = maxPool(x, { kernel: 3, strides: 2, pads: 1 });
  g.output('y', y);
  g.output('dx', grad(y, [x], { seeds: [g.input('seed', 'float32', y.shape)] })[0]!);
  await check('MaxPool k3 s2 p1, forward and backward', g);
}
{
  const g = new Graph('bn');
  const x = g.input('x', 'float32', [4, 3, 5, 5]);
  const y = g.scope('bn', () => batchNorm(x, { training: true }));
  const wrt = [x, ...g.inputsWithRole('param')];
  grad(y, wrt, { seeds: [g.input('seed', 'float32', y.shape)] }).forEach((v, k) => g.output(`grad_${wrt[k]!.name}`, v));
  g.output('y', y);
  g.outputBufferUpdates();
  await check('BN composite, training mode, forward and backward', g);
}
const CONVS: readonly [readonly number[], readonly number[], ConvOptions][] = [
  [[2, 16, 12, 12], [8, 16, 3, 3], { pads: 1 }],
  [[2, 8, 13, 13], [16, 8, 3, 3], { strides: 2, pads: 1 }],
  [[1, 4, 30, 30], [4, 2, 3, 3], { pads: 2, dilations: 2, group: 2 }],
  [[2, 8, 8, 8], [8, 8, 1, 1], {}],
];
for (const [xs, ws, options] of CONVS) {
  const g = new Graph('conv');
  const [x, w] = [g.input('x', 'float32', xs), g.input('w', 'float32', ws)];
  const y = conv(x, w, undefined, options);
  const seed = g.input('seed', 'float32', y.shape);
  const attrs = y.producer!.attrs as unknown as ConvAttrs;
  const flippable = attrs.strides.every((s) => s === 1) && [0, 1, 2, 3].every((i) => attrs.dilations[i % 2]! * (attrs.kernel_shape[i % 2]! - 1) >= attrs.pads[i]!);
  const im2colOfG = flippable && attrs.group === 1;
  const dxMethods: ConvInputGradMethod[] = ['convTranspose', ...(flippable ? (['conv'] as const) : []), ...(im2colOfG ? (['gemm', 'matMul'] as const) : [])];
  const dwMethods: ConvWeightGradMethod[] = ['conv', ...(attrs.group === 1 ? (['gemm'] as const) : []), ...(im2colOfG ? (['matMul'] as const) : [])];
  for (const m of dxMethods) g.output(`dx_${m}`, convInputGrad(seed, w, x, attrs, m));
  for (const m of dwMethods) g.output(`dw_${m}`, convWeightGrad(x, seed, w, attrs, m));
  await check(`Conv gradients, X [${xs}] W [${ws}] ${JSON.stringify(options)}`, g);
}
{
  const g = new Graph('resnet18');
  const { features } = resnet(g.input('image', 'float32', [2, 3, 64, 64]), { depth: 18, width: 0.25, outputStride: 16, training: true });
  const loss = reduceMean(mul(features, features));
  const params = g.inputsWithRole('param');
  grad(loss, params).forEach((v, k) => g.output(`grad_${params[k]!.name}`, v));
  g.output('loss', loss);
  g.outputBufferUpdates();
  await check('ResNet-18 w1/4 os16, training: loss and all parameter gradients', g);
}
console.log(failures === 0 ? `all checks pass on ${ep}` : `${failures} check(s) failed on ${ep}`);
process.exit(failures === 0 ? 0 : 1);
