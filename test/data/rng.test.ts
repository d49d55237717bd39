import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/data/rng.js';

const draw = (r: Rng, n: number): number[] => Array.from({ length: n }, () => r.nextU32());

test('same seed, same stream; different seeds differ', () => {
  assert.equal(draw(Rng.fromSeed(42), 8), draw(Rng.fromSeed(42), 8));
  assert.not.equal(draw(Rng.fromSeed(42), 8), draw(Rng.fromSeed(43), 8));
  assert.not.equal(draw(Rng.fromSeed(0), 8), draw(Rng.fromSeed(2 ** 40), 8));
});

test('fork depends on the state and keys only, and does not advance the parent', () => {
  const a = Rng.fromSeed(7);
  const before = a.state();
  const c1 = draw(a.fork(3, 5), 6);
  assert.equal(a.state(), before);
  assert.equal(draw(Rng.fromSeed(7).fork(3, 5), 6), c1);
  assert.not.equal(draw(a.fork(5, 3), 6), c1);
  assert.not.equal(draw(a.fork(3), 6), c1);
  assert.not.equal(draw(a.fork(3, 5, 0), 6), c1);
  // A child stream is not the parent's continuation.
  assert.not.equal(draw(Rng.fromSeed(7), 6), c1);
});

test('state round-trips through JSON and resumes the stream exactly', () => {
  const r = Rng.fromSeed(11);
  draw(r, 5);
  const saved = JSON.parse(JSON.stringify(r.state())) as [number, number, number, number];
  const expected = draw(r, 10);
  assert.equal(draw(Rng.fromState(saved), 10), expected);
  assert.throws(() => Rng.fromState([1, 2, 3] as unknown as [number, number, number, number]), /four unsigned 32-bit/);
  assert.throws(() => Rng.fromSeed(1).fork(0.5), /not a safe integer/);
});

test('uniform, int and normal have the right moments', () => {
  const r = Rng.fromSeed(1);
  const n = 200_000;
  let s = 0, s2 = 0, lo = Infinity, hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const u = r.uniform(2, 5);
    s += u;
    lo = Math.min(lo, u);
    hi = Math.max(hi, u);
  }
  assert.ok(Math.abs(s / n - 3.5) < 0.01, `uniform mean ${s / n}`);
  assert.ok(lo >= 2 && hi < 5);
  const counts = new Array<number>(7).fill(0);
  for (let i = 0; i < 70_000; i++) counts[r.int(7)]!++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 400, `int(7) bucket ${c}`);
  s = 0;
  for (let i = 0; i < n; i++) {
    const z = r.normal();
    s += z;
    s2 += z * z;
  }
  assert.ok(Math.abs(s / n) < 0.01, `normal mean ${s / n}`);
  assert.ok(Math.abs(s2 / n - 1) < 0.015, `normal variance ${s2 / n}`);
});

test('permutation holds every index once', () => {
  const p = Rng.fromSeed(3).permutation(1000);
  assert.equal([...p].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
  assert.not.equal([...p.slice(0, 10)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test.run();
