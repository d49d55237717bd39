import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BYOL_VIEWS, GEOMETRY_ONLY, type ViewOps, applyViewOps, blurKernelSize, sampleViewOps, toUint8 } from '../../src/data/augment.js';
import { Rng } from '../../src/data/rng.js';

const NONE: ViewOps = { flip: false, jitter: null, grayscale: false, blurSigma: null, solarize: null };

/** A size×size CHW image with one RGB value everywhere. */
const flat = (size: number, rgb: [number, number, number]): Float32Array => {
  const n = size * size;
  const v = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) v.fill(rgb[c]!, c * n, (c + 1) * n);
  return v;
};
const pixel = (v: Float32Array, n: number, i = 0): number[] => [v[i]!, v[i + n]!, v[i + 2 * n]!].map((x) => Math.round(x * 1e4) / 1e4);
const jitter = (k: number, f: Partial<{ brightness: number; contrast: number; saturation: number; hue: number }>): ViewOps => ({
  ...NONE, jitter: { order: [k], brightness: 1, contrast: 1, saturation: 1, hue: 0, ...f },
});

test('brightness scales and clamps; contrast blends towards the grey mean', () => {
  const v = flat(2, [0.5, 0.2, 0.8]);
  applyViewOps(v, 0, 2, jitter(0, { brightness: 1.4 }));
  assert.equal(pixel(v, 4), [0.7, 0.28, 1]);
  const w = new Float32Array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]); // 2×2, grey mean 0.5
  applyViewOps(w, 0, 2, jitter(1, { contrast: 0.5 }));
  assert.equal([...w.subarray(0, 2)].map((x) => Math.round(x * 1e4) / 1e4), [0.25, 0.75]);
});

test('saturation 0 and grayscale give torchvision grey; hue +1/3 turns red into green', () => {
  const v = flat(1, [1, 0, 0]);
  applyViewOps(v, 0, 1, jitter(2, { saturation: 0 }));
  assert.equal(pixel(v, 1), [0.2989, 0.2989, 0.2989]);
  const g = flat(1, [0.2, 0.4, 0.6]);
  applyViewOps(g, 0, 1, { ...NONE, grayscale: true });
  const y = 0.2989 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6;
  assert.equal(pixel(g, 1), [y, y, y].map((x) => Math.round(x * 1e4) / 1e4));
  const h = flat(1, [0.9, 0.1, 0.1]);
  applyViewOps(h, 0, 1, jitter(3, { hue: 1 / 3 }));
  assert.equal(pixel(h, 1), [0.1, 0.9, 0.1]);
  const grey = flat(1, [0.3, 0.3, 0.3]);
  applyViewOps(grey, 0, 1, jitter(3, { hue: 0.1 }));
  assert.equal(pixel(grey, 1), [0.3, 0.3, 0.3]);
});

test('blur keeps a flat image flat and spreads a point symmetrically, summing to 1', () => {
  const size = 64; // kernel 7
  const n = size * size;
  const c = flat(size, [0.4, 0.4, 0.4]);
  applyViewOps(c, 0, size, { ...NONE, blurSigma: 1.5 });
  assert.ok(c.every((v) => Math.abs(v - 0.4) < 1e-5));
  const d = new Float32Array(3 * n);
  d[32 * size + 32] = 1;
  applyViewOps(d, 0, size, { ...NONE, blurSigma: 1.5 });
  let sum = 0;
  for (let i = 0; i < n; i++) sum += d[i]!;
  assert.ok(Math.abs(sum - 1) < 1e-5, `sum ${sum}`);
  assert.ok(Math.abs(d[32 * size + 31]! - d[32 * size + 33]!) < 1e-7 && Math.abs(d[31 * size + 32]! - d[33 * size + 32]!) < 1e-7);
  // σ = 1.5 on a 7-tap kernel: 1-D weights 1, e^(-1/4.5), … normalised; the centre keeps 0.271² of the point.
  const w = [0, 1, 2, 3].map((k) => Math.exp(-0.5 * (k / 1.5) ** 2));
  const centre = 1 / (w[0]! + 2 * (w[1]! + w[2]! + w[3]!));
  assert.ok(Math.abs(d[32 * size + 32]! - centre * centre) < 1e-6);
  assert.ok(Math.abs(d[32 * size + 33]! - centre * centre * w[1]!) < 1e-6);
  assert.is(blurKernelSize(224), 23);
  assert.is(blurKernelSize(112), 11);
  assert.is(blurKernelSize(2), 3);
  assert.is(blurKernelSize(1), 1);
});

test('solarize inverts values at or above the threshold; views leave as uint8, rounded and clamped', () => {
  const v = new Float32Array([0.2, 0.5, 0.9]);
  applyViewOps(v, 0, 1, { ...NONE, solarize: 0.5 });
  assert.equal([...v].map((x) => Math.round(x * 1e4) / 1e4), [0.2, 0.5, 0.1]);
  assert.equal([...toUint8(Float32Array.of(0, 0.5, 1, 1.2, -0.1, 0.0019, 0.002))], [0, 128, 255, 255, 0, 0, 1]);
});

test('sampled ops follow the per-view probabilities (BYOL view 1 vs view 2)', () => {
  const r = Rng.fromSeed(2);
  const n = 20_000;
  const count = [0, 1].map((v) => {
    const c = { flip: 0, jitter: 0, grey: 0, blur: 0, sol: 0 };
    for (let i = 0; i < n; i++) {
      const o = sampleViewOps(r, BYOL_VIEWS[v]!);
      c.flip += +o.flip;
      c.jitter += +(o.jitter !== null);
      c.grey += +o.grayscale;
      c.blur += +(o.blurSigma !== null);
      c.sol += +(o.solarize !== null);
      if (o.jitter) {
        assert.ok(o.jitter.brightness >= 0.6 && o.jitter.brightness <= 1.4 && Math.abs(o.jitter.hue) <= 0.1);
        assert.equal([...o.jitter.order].sort(), [0, 1, 2, 3]);
      }
      if (o.blurSigma !== null) assert.ok(o.blurSigma >= 0.1 && o.blurSigma <= 2);
    }
    return c;
  });
  const near = (x: number, p: number): boolean => Math.abs(x / n - p) < 0.015;
  assert.ok(near(count[0]!.flip, 0.5) && near(count[0]!.jitter, 0.8) && near(count[0]!.grey, 0.2));
  assert.ok(near(count[0]!.blur, 1) && near(count[0]!.sol, 0), JSON.stringify(count[0]));
  assert.ok(near(count[1]!.blur, 0.1) && near(count[1]!.sol, 0.2), JSON.stringify(count[1]));
  const g = sampleViewOps(Rng.fromSeed(3), GEOMETRY_ONLY);
  assert.ok(g.jitter === null && !g.grayscale && g.blurSigma === null && g.solarize === null);
});

test.run();
