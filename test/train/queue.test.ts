import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { UniformRng as Rng } from '../../src/train/kmeans.js';
import { KeyQueue } from '../../src/train/queue.js';

function seeded(seed: number): Rng {
  let s = seed | 0;
  return {
    next() {
      s = (s + 0x6d2b79f5) | 0;
      let t = Math.imul(s ^ (s >>> 15), 1 | s);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

const rowNorm = (q: KeyQueue, r: number): number => Math.hypot(...q.buffer.subarray(r * q.dim, (r + 1) * q.dim));

test('random init: unit rows, standard-normal entries, reproducible by seed', () => {
  const q = KeyQueue.random(4096, 16, seeded(1));
  for (let r = 0; r < q.length; r += 97) assert.ok(Math.abs(rowNorm(q, r) - 1) < 1e-6);
  // Each coordinate of a uniform unit vector in 16 dims has mean 0 and variance 1/16.
  const n = q.buffer.length;
  const mean = q.buffer.reduce((a, b) => a + b, 0) / n;
  const variance = q.buffer.reduce((a, b) => a + b * b, 0) / n;
  assert.ok(Math.abs(mean) < 0.005, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1 / 16) < 0.002, `variance ${variance}`);
  assert.equal(Array.from(KeyQueue.random(8, 4, seeded(1)).buffer), Array.from(KeyQueue.random(8, 4, seeded(1)).buffer));
  assert.not.equal(Array.from(KeyQueue.random(8, 4, seeded(1)).buffer), Array.from(KeyQueue.random(8, 4, seeded(2)).buffer));
  assert.is(q.pointer, 0);
});

test('enqueue overwrites the oldest rows, wraps, and normalises', () => {
  const q = KeyQueue.random(5, 2, seeded(3));
  q.enqueue(Float32Array.of(3, 4, 0, 2, 1, 0));
  assert.is(q.pointer, 3);
  assert.equal(Array.from(q.buffer.subarray(0, 6)), [0.6, 0.8, 0, 1, 1, 0].map(Math.fround));
  q.enqueue(Float32Array.of(0, -5, -2, 0, 0, 0.5));
  // Rows 3, 4 then 0; rows 1 and 2 untouched.
  assert.is(q.pointer, 1);
  assert.equal(Array.from(q.buffer.subarray(6, 10)), [0, -1, -1, 0]);
  assert.equal(Array.from(q.buffer.subarray(0, 2)), [0, 1]);
  assert.equal(Array.from(q.buffer.subarray(2, 6)), [0, 1, 1, 0]);
});

test('snapshot / restore round trip continues identically', () => {
  const a = KeyQueue.random(6, 3, seeded(5));
  a.enqueue(Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 1, 1, 2, 2, 2));
  const saved = a.snapshot();
  const b = KeyQueue.restore(saved, 6, 3);
  a.enqueue(Float32Array.of(1, 0, 0, 0, 1, 0));
  b.enqueue(Float32Array.of(1, 0, 0, 0, 1, 0));
  assert.equal(Array.from(a.buffer), Array.from(b.buffer));
  assert.is(a.pointer, b.pointer);
  assert.is(saved.pointer, 5);
  assert.is(b.pointer, 1);
});

test('bad sizes and non-finite keys are rejected with the reason', () => {
  const q = KeyQueue.random(4, 2, seeded(1));
  assert.throws(() => q.enqueue(new Float32Array(10)), /5 keys do not fit a queue of 4; moco.queue_size must be at least the batch size/);
  assert.throws(() => q.enqueue(new Float32Array(3)), /3 values is not a whole number of keys of dim 2/);
  assert.throws(() => q.enqueue(Float32Array.of(1, 0, NaN, 1)), /key 1 holds a non-finite value/);
  assert.is(q.pointer, 0);
  assert.throws(() => KeyQueue.restore({ buffer: new Float32Array(8), pointer: 4 }, 4, 2), /pointer must be an integer in \[0, 4\), got 4/);
  assert.throws(() => KeyQueue.restore({ buffer: new Float32Array(6), pointer: 0 }, 4, 2), /buffer holds 6 values, expected length 4 × dim 2 = 8/);
});

test.run();
