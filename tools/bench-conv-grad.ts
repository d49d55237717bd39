/**
 * Conv gradient formulations, timed on the conv layers of a ResNet backbone: for each distinct layer
 * geometry, the forward Conv, each input-gradient and weight-gradient formulation alone (see the
 * Conv comment in src/onnx/ops/Conv.ts), and both together as the VJP builds them (sharing one
 * im2col of g), then totals over the network weighted by how often each geometry occurs. `auto` is
 * what the Conv VJP emits. Isolated layers favour copies (Slice, Transpose, Concat) that cost more
 * inside a whole step: confirm a choice with `node dist/tools/bench-step.js --profile`. A benchmark
 * prints figures; it asserts nothing (variants are only checked to agree).
 *
 *   node dist/tools/bench-conv-grad.js [--depth 18|50] [--width 1] [--batch 16] [--size 112]
 *                                      [--threads 0 (ORT default)] [--reps 5] [--ep cpu|webgpu|cuda]
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { resnet } from '../src/graphs/resnet.js';
import { Graph, type Value } from '../src/onnx/ir.js';
import { concat } from '../src/onnx/ops/Concat.js';
import { type ConvAttrs, Conv, conv } from '../src/onnx/ops/Conv.js';
import { type ConvInputGradMethod, type ConvWeightGradMethod, convGrads, convInputGrad, convWeightGrad } from '../src/onnx/convGrad.js';
import { reshape } from '../src/onnx/ops/Reshape.js';
import { writeModel } from '../src/onnx/serialize.js';
import type { ExecutionProvider } from '../src/runtime/providers.js';
import { Session } from '../src/runtime/session.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : (process.argv[i + 1] ?? fallback);
}

const depth = Number(flag('depth', '18')) as 18 | 50;
const width = Number(flag('width', '1'));
const batch = Number(flag('batch', '16'));
const size = Number(flag('size', '112'));
const threads = Number(flag('threads', '0'));
const reps = Number(flag('reps', '5'));
const ep = flag('ep', 'cpu') as ExecutionProvider;

interface Layer {
  readonly x: readonly number[];
  readonly w: readonly number[];
  readonly attrs: ConvAttrs;
  readonly stem: boolean;
  count: number;
}

/** Distinct conv geometries of the backbone, with multiplicities. */
function layers(): Layer[] {
  const g = new Graph('geometry');
  const image = g.input('image', 'float32', [batch, 3, size, size]);
  resnet(image, { depth, width, training: true });
  const found = new Map<string, Layer>();
  for (const node of g.nodes) {
    if (node.op !== (Conv as unknown)) continue;
    const [x, w] = [node.inputs[0]!, node.inputs[1]!];
    const key = JSON.stringify([x.shape, w.shape, node.attrs]);
    const seen = found.get(key);
    if (seen) seen.count++;
    else found.set(key, { x: x.shape, w: w.shape, attrs: node.attrs as unknown as ConvAttrs, stem: x === image, count: 1 });
  }
  return [...found.values()];
}

type Variant = { readonly label: string; readonly build: (x: Value, w: Value, g: Value) => Value };

function variants(layer: Layer): Variant[] {
  const a = layer.attrs;
  const opts = { strides: [a.strides[0]!, a.strides[1]!] as const, pads: [a.pads[0]!, a.pads[1]!, a.pads[2]!, a.pads[3]!] as const, dilations: [a.dilations[0]!, a.dilations[1]!] as const, group: a.group };
  const out: Variant[] = [{ label: 'forward', build: (x, w) => conv(x, w, undefined, opts) }];
  const flippable = a.strides.every((s) => s === 1) && [0, 1, 2, 3].every((i) => a.dilations[i % 2]! * (a.kernel_shape[i % 2]! - 1) >= a.pads[i]!);
  const im2colOfG = flippable && a.group === 1;
  const dx: ConvInputGradMethod[] = ['auto', ...(im2colOfG ? (['gemm', 'matMul'] as const) : []), ...(flippable ? (['conv'] as const) : []), 'convTranspose'];
  if (!layer.stem) for (const m of dx) out.push({ label: `dX ${m}`, build: (x, w, g) => convInputGrad(g, w, x, a, m) });
  const dw: ConvWeightGradMethod[] = ['auto', ...(a.group === 1 ? (['gemm'] as const) : []), ...(im2colOfG ? (['matMul'] as const) : []), 'conv'];
  for (const m of dw) out.push({ label: `dW ${m}`, build: (x, w, g) => convWeightGrad(x, g, w, a, m) });
  // What the VJP builds: both gradients, sharing one im2col of g where the methods allow.
  if (!layer.stem) out.push({ label: 'dX+dW auto', build: (x, w, g) => { const r = convGrads(x, g, w, a, { X: true, W: true }); return concat([reshape(r.X!, [r.X!.size]), reshape(r.W!, [r.W!.size])], 0); } });
  return out;
}

function random(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.random() - 0.5;
  return out;
}

/**
 * Times every variant of one layer, interleaved (one run of each per round) so that load from other
 * processes falls on all of them alike; returns the median per variant and each output.
 */
async function timeAll(layer: Layer, vs: readonly Variant[], gShape: readonly number[], feeds: Record<string, Float32Array>): Promise<{ ms: number; data: Float32Array }[]> {
  const sessions: { session: Session; feeds: Record<string, Float32Array> }[] = [];
  for (const v of vs) {
    const g = new Graph(v.label);
    const y = v.build(g.input('x', 'float32', layer.x), g.input('w', 'float32', layer.w), g.input('g', 'float32', gShape));
    g.output('y', y);
    const session = await Session.create(writeModel(g).model, { ep, ...(threads ? { threads } : {}) }, v.label);
    sessions.push({ session, feeds: Object.fromEntries(Object.entries(feeds).filter(([k]) => session.inputNames.includes(k))) });
  }
  const data: Float32Array[] = [];
  for (const s of sessions) {
    await s.session.run(s.feeds);
    data.push((await s.session.run(s.feeds))['y']!.data as Float32Array);
  }
  const times: number[][] = vs.map(() => []);
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < sessions.length; i++) {
      const t0 = performance.now();
      await sessions[i]!.session.run(sessions[i]!.feeds);
      times[i]!.push(performance.now() - t0);
    }
  }
  for (const s of sessions) await s.session.release();
  return times.map((t, i) => ({ ms: [...t].sort((p, q) => p - q)[Math.floor(t.length / 2)]!, data: data[i]! }));
}

function relDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let s = 1e-30;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return d / s;
}

console.log(`conv gradients on the conv layers of ResNet-${depth} (width ${width}), batch ${batch}, ${size}×${size}, ep ${ep}, ${threads || 'default'} threads (${availableParallelism()} cores), median of ${reps}`);
const totals = new Map<string, { ms: number; layers: number }>();
let layerCount = 0;
for (const layer of layers()) {
  const g0 = new Graph('shape');
  const gShape = conv(g0.input('x', 'float32', layer.x), g0.input('w', 'float32', layer.w), undefined, {
    strides: [layer.attrs.strides[0]!, layer.attrs.strides[1]!], pads: [layer.attrs.pads[0]!, layer.attrs.pads[1]!, layer.attrs.pads[2]!, layer.attrs.pads[3]!], dilations: [layer.attrs.dilations[0]!, layer.attrs.dilations[1]!], group: layer.attrs.group,
  }).shape;
  const feeds = { x: random(layer.x.reduce((p, q) => p * q, 1)), w: random(layer.w.reduce((p, q) => p * q, 1)), g: random(gShape.reduce((p, q) => p * q, 1)) };
  const k = layer.attrs.kernel_shape;
  layerCount += layer.count;
  console.log(`\nX [${layer.x}] W [${layer.w}] ${k[0]}×${k[1]} s${layer.attrs.strides[0]} p${layer.attrs.pads[0]} d${layer.attrs.dilations[0]} ×${layer.count}${layer.stem ? ' (stem: no dX)' : ''}`);
  const vs = variants(layer);
  const results = await timeAll(layer, vs, gShape, feeds);
  const refs = new Map<string, Float32Array>();
  vs.forEach((v, i) => {
    const { ms, data } = results[i]!;
    const kind = v.label.split(' ')[0]!;
    const ref = refs.get(kind);
    if (!ref) refs.set(kind, data);
    const agree = ref ? `  (vs auto: rel diff ${relDiff(data, ref).toExponential(1)})` : '';
    console.log(`  ${v.label.padEnd(18)} ${ms.toFixed(2).padStart(9)} ms${agree}`);
    const t = totals.get(v.label) ?? { ms: 0, layers: 0 };
    totals.set(v.label, { ms: t.ms + ms * layer.count, layers: t.layers + layer.count });
  });
}
console.log(`\nnetwork totals over ${layerCount} conv layers (Σ count × median):`);
for (const [label, t] of totals) console.log(`  ${label.padEnd(18)} ${t.ms.toFixed(1).padStart(9)} ms${t.layers < layerCount ? `  (only the ${t.layers} layers it applies to)` : ''}`);
