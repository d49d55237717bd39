/**
 * The op-test harness: each OpCase builds a small graph around one op, and `checkCase` runs it in
 * ONNX Runtime (CPU) to check
 * (a) our shape rule against the shapes ONNX Runtime actually returns, and
 * (b) every VJP against central finite differences: for the scalar L = Σ c·f(x) with a random
 *     cotangent c, each element of ∂L/∂x from our backward graph is compared with
 *     (L(x + ε·e_i) − L(x − ε·e_i)) / 2ε, with L summed in float64 on the host.
 * Error measure: max_i |analytic_i − numeric_i| / max(max_i |numeric_i|, 1e-6), per input.
 * float32 throughout (ONNX Runtime has no float64 Conv); ε = 1e-2 by default, tolerance 5e-3 by
 * default, which leaves room for float32 rounding (≈1e-7·|L|/ε) and O(ε²) truncation.
 */
import { grad } from '../../src/onnx/autodiff.js';
import { type DType, type TensorData, allocate, isFloat, shapeSize } from '../../src/onnx/dtype.js';
import { Graph, type Value } from '../../src/onnx/ir.js';
import { ancestors } from '../../src/onnx/reach.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { Session } from '../../src/runtime/session.js';
import { uniformStream } from '../../src/data/rng.js';

/** How an input's random values are drawn: kept away from kinks and outside ops' domains. */
export type Domain =
  | 'normal' // N(0, 1)
  | 'positive' // U(0.5, 2)
  | 'awayFromZero' // ±U(0.2, 1.5): no element near a Relu/abs kink
  | 'distinct' // a random permutation of well-separated values: no ties for Max/MaxPool
  | { readonly uniform: readonly [number, number] }
  | { readonly ints: readonly number[] } // fixed integer contents (indices)
  | { readonly values: readonly number[] }; // fixed contents

export interface InputSpec {
  readonly shape: readonly number[];
  readonly dtype?: DType;
  readonly domain?: Domain;
  /** Not differentiated even if float (e.g. a constant-like operand). */
  readonly fixed?: boolean;
}

export interface OpCase {
  /** The registry name of the op under test (for the coverage check). */
  readonly op: string;
  /** What is special about this case: attributes, broadcasting, … */
  readonly name: string;
  readonly inputs: Readonly<Record<string, InputSpec>>;
  readonly build: (x: Readonly<Record<string, Value>>) => Value | readonly Value[];
  readonly eps?: number;
  readonly tol?: number;
  readonly skip?: { readonly reason: string };
}

export interface CaseResult {
  readonly case: string;
  /** Max normalised gradient error per differentiated input. */
  readonly errors: Readonly<Record<string, number>>;
  readonly maxError: number;
}


export function sample(spec: InputSpec, random: () => number): TensorData {
  const dtype = spec.dtype ?? 'float32';
  const n = shapeSize(spec.shape);
  const d = spec.domain ?? 'normal';
  const values: number[] = [];
  if (typeof d === 'object' && 'ints' in d) values.push(...d.ints);
  else if (typeof d === 'object' && 'values' in d) values.push(...d.values);
  else if (d === 'distinct') {
    const perm = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    values.push(...perm.map((p) => (p - n / 2) * (4 / n) + 0.01));
  } else {
    for (let i = 0; i < n; i++) {
      const u = random();
      if (d === 'normal') values.push(Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * random()));
      else if (d === 'positive') values.push(0.5 + 1.5 * u);
      else if (d === 'awayFromZero') values.push((random() < 0.5 ? -1 : 1) * (0.2 + 1.3 * u));
      else values.push(d.uniform[0] + (d.uniform[1] - d.uniform[0]) * u);
    }
  }
  if (values.length !== n) throw new Error(`input of shape [${spec.shape}] needs ${n} values, the domain gave ${values.length}`);
  const out = allocate(dtype, n);
  values.forEach((v, i) => ((out as Float64Array)[i] = dtype === 'int64' ? (BigInt(v) as unknown as number) : v));
  return out;
}

/** Builds the case graph, runs it, and returns shape mismatches as thrown errors and gradient errors as numbers. */
export async function checkCase(c: OpCase, seed = 1): Promise<CaseResult> {
  const random = uniformStream(seed);
  const graph = new Graph(`case ${c.op}: ${c.name}`);
  const x: Record<string, Value> = {};
  for (const [name, spec] of Object.entries(c.inputs)) x[name] = graph.input(name, spec.dtype ?? 'float32', spec.shape);
  const built = c.build(x);
  const ys = Array.isArray(built) ? (built as readonly Value[]) : [built as Value];
  const wrt = Object.entries(c.inputs).filter(([name, s]) => !s.fixed && isFloat(s.dtype ?? 'float32') && ancestors(graph, ys).values.has(x[name]!)).map(([name]) => name);
  const seeds = ys.map((y, i) => graph.input(`seed${i}`, y.dtype, y.shape));
  const grads = grad(ys, wrt.map((n) => x[n]!), { seeds });
  ys.forEach((y, i) => graph.output(`y${i}`, y));
  grads.forEach((g, i) => graph.output(`grad_${wrt[i]}`, g));
  const session = await Session.create(writeModel(graph).model, {}, graph.name);

  const feeds: Record<string, TensorData> = {};
  for (const [name, spec] of Object.entries(c.inputs)) feeds[name] = sample(spec, random);
  const seedData = seeds.map((s) => sample({ shape: s.shape }, random) as Float32Array);
  seeds.forEach((s, i) => (feeds[s.name] = seedData[i]!));

  // The writer leaves out inputs nothing reads (an operand the case ignores), so feed only the model's.
  for (const name of Object.keys(feeds)) if (!session.inputNames.includes(name)) delete feeds[name];
  const base = await session.run(feeds);
  ys.forEach((y, i) => {
    const dims = base[`y${i}`]!.dims;
    if (dims.length !== y.shape.length || dims.some((d, k) => d !== y.shape[k])) {
      throw new Error(`${c.op} (${c.name}): shape rule says [${y.shape}] but ONNX Runtime returned [${dims}]`);
    }
  });
  const objective = async (f: Record<string, TensorData>): Promise<number> => {
    const r = await session.run(f, ys.map((_, i) => `y${i}`));
    let total = 0;
    ys.forEach((_, i) => {
      const data = r[`y${i}`]!.data as Float32Array;
      const s = seedData[i]!;
      for (let k = 0; k < data.length; k++) total += data[k]! * s[k]!;
    });
    return total;
  };

  const eps = c.eps ?? 1e-2;
  const errors: Record<string, number> = {};
  for (const name of wrt) {
    const analytic = base[`grad_${name}`]!.data as Float32Array;
    const input = feeds[name] as Float32Array;
    const numeric = new Float64Array(input.length);
    for (let i = 0; i < input.length; i++) {
      const keep = input[i]!;
      const plus = Float32Array.from(input);
      plus[i] = keep + eps;
      const minus = Float32Array.from(input);
      minus[i] = keep - eps;
      numeric[i] = ((await objective({ ...feeds, [name]: plus })) - (await objective({ ...feeds, [name]: minus }))) / (Number(plus[i]) - Number(minus[i]));
    }
    let scale = 1e-6;
    let worst = 0;
    for (let i = 0; i < numeric.length; i++) scale = Math.max(scale, Math.abs(numeric[i]!));
    for (let i = 0; i < numeric.length; i++) worst = Math.max(worst, Math.abs(analytic[i]! - numeric[i]!));
    errors[name] = worst / scale;
  }
  await session.release();
  return { case: `${c.op}: ${c.name}`, errors, maxError: Math.max(0, ...Object.values(errors)) };
}
