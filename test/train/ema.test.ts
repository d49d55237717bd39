import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { emaUpdate, initTarget, type NamedTensors } from '../../src/train/ema.js';

const tensors = (entries: [string, number[]][]): NamedTensors => new Map(entries.map(([k, v]) => [k, Float32Array.from(v)]));

test('target ← τ·target + (1 − τ)·online, paired by name not by insertion order', () => {
  const target = tensors([['a.weight', [1, 2]], ['b.bias', [10]]]);
  // Same names, opposite insertion order: pairing by position would mix a and b.
  const online = tensors([['b.bias', [0]], ['a.weight', [3, -2]]]);
  emaUpdate(target, online, 0.9);
  assert.equal(Array.from(target.get('a.weight')!), [Math.fround(0.9 * 1 + 0.1 * 3), Math.fround(0.9 * 2 + 0.1 * -2)]);
  assert.equal(Array.from(target.get('b.bias')!), [Math.fround(9)]);
  assert.equal(Array.from(online.get('a.weight')!), [3, -2]);
  emaUpdate(target, online, 0);
  assert.equal(Array.from(target.get('a.weight')!), [3, -2]);
  emaUpdate(target, tensors([['a.weight', [5, 5]], ['b.bias', [5]]]), 1);
  assert.equal(Array.from(target.get('a.weight')!), [3, -2]);
});

test('k updates with constant τ from x0 toward a fixed online value follow the closed form', () => {
  const target = tensors([['w', [4]]]);
  const online = tensors([['w', [1]]]);
  for (let k = 0; k < 50; k++) emaUpdate(target, online, 0.99);
  // x_k = 1 + (4 − 1)·0.99^k
  assert.ok(Math.abs(target.get('w')![0]! - (1 + 3 * 0.99 ** 50)) < 1e-5);
});

test('initTarget is a deep copy', () => {
  const online = tensors([['w', [1, 2, 3]]]);
  const target = initTarget(online);
  assert.equal(Array.from(target.get('w')!), [1, 2, 3]);
  online.get('w')![0] = 100;
  assert.is(target.get('w')![0], 1);
});

test('mismatched key sets and sizes throw, naming every offending key, and change nothing', () => {
  const target = tensors([['a', [1]], ['stale.bn.running_mean', [0]], ['c', [1, 2]]]);
  const online = tensors([['a', [2]], ['new.head.weight', [0]], ['c', [1, 2, 3]]]);
  try {
    emaUpdate(target, online, 0.5);
    assert.unreachable('should have thrown');
  } catch (e) {
    const msg = (e as Error).message;
    assert.match(msg, "missing from the target: 'new.head.weight'");
    assert.match(msg, "only in the target: 'stale.bn.running_mean'");
    assert.match(msg, "size mismatch: 'c' (target 2, online 3)");
  }
  assert.is(target.get('a')![0], 1);
  assert.throws(() => emaUpdate(target, target, 1.5), /momentum τ must lie in \[0, 1\], got 1.5/);
});

test.run();
