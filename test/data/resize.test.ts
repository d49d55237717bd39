import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cropResize, cropResizeMask } from '../../src/data/resize.js';

function image(width: number, height: number, f: (x: number, y: number, c: number) => number): { width: number; height: number; rgb: Uint8Array } {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) rgb[(y * width + x) * 3 + c] = f(x, y, c);
  return { width, height, rgb };
}

test('the full box at the same size is the identity, CHW, in [0, 1]', () => {
  const img = image(4, 4, (x, y, c) => 10 * x + 50 * y + c);
  const out = new Float32Array(3 * 16);
  cropResize(img, [0, 0, 1, 1], 4, false, out);
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(out[c * 16 + y * 4 + x]! - (10 * x + 50 * y + c) / 255) < 1e-6);
  }
});

test('flip mirrors the row; a half box picks the right half', () => {
  const img = image(8, 2, (x) => x * 30);
  const a = new Float32Array(3 * 16);
  const b = new Float32Array(3 * 16);
  cropResize(img, [0.5, 0, 1, 1], 4, false, a);
  cropResize(img, [0.5, 0, 1, 1], 4, true, b);
  // 4 output columns of an exact 4-pixel box (scale 1): pixels 4..7 after a 2→4 vertical stretch.
  assert.equal([...a.subarray(0, 4)].map((v) => Math.round(v * 255)), [120, 150, 180, 210]);
  assert.equal([...b.subarray(0, 4)].map((v) => Math.round(v * 255)), [210, 180, 150, 120]);
});

test('upsampling a 2×1 image is PIL bilinear (edges clamp, centre interpolates)', () => {
  const img = image(2, 1, (x) => (x === 0 ? 0 : 200));
  const out = new Float32Array(3 * 16);
  cropResize(img, [0, 0, 1, 1], 4, false, out);
  // Output centres at source x = 0.25, 0.75, 1.25, 1.75 → weights from pixel centres 0.5 and 1.5.
  assert.equal([...out.subarray(0, 4)].map((v) => Math.round(v * 255)), [0, 50, 150, 200]);
});

test('strong downscaling is antialiased: a 1-pixel checkerboard becomes mid-grey', () => {
  const img = image(64, 64, (x, y) => ((x + y) & 1 ? 255 : 0));
  const out = new Float32Array(3 * 64);
  cropResize(img, [0, 0, 1, 1], 8, false, out);
  for (let i = 0; i < 64; i++) assert.ok(Math.abs(out[i]! - 0.5) < 0.03, `pixel ${i}: ${out[i]}`);
});

test('a 1×1 image upsamples to a constant view', () => {
  const out = new Float32Array(3 * 9);
  cropResize(image(1, 1, (_x, _y, c) => 40 * (c + 1)), [0, 0, 1, 1], 3, true, out);
  assert.ok(out.subarray(0, 9).every((v) => Math.abs(v - 40 / 255) < 1e-6));
  assert.ok(out.subarray(18).every((v) => Math.abs(v - 120 / 255) < 1e-6));
});

test('masks are cropped by nearest neighbour and flipped like the view', () => {
  const mask = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]); // 4×2
  // Output centres at source x = 1, 3 (pixels 1 and 3), rows 0 and 1.
  assert.equal([...cropResizeMask(mask, 4, 2, [0, 0, 1, 1], 2, false)], [2, 4, 6, 8]);
  assert.equal([...cropResizeMask(mask, 4, 2, [0.5, 0, 1, 1], 2, true)], [4, 3, 8, 7]);
});

test.run();
