import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Box, cellCentre, intersection, iou, writeOffsetMap, writeRoiPositions } from '../../src/data/alignment.js';

test('iou of identical, disjoint and half-overlapping boxes', () => {
  const a: Box = [0, 0, 0.5, 0.5];
  assert.is(iou(a, a), 1);
  assert.is(iou(a, [0.6, 0.6, 1, 1]), 0);
  assert.ok(Math.abs(iou([0, 0, 0.4, 0.4], [0.2, 0, 0.6, 0.4]) - 1 / 3) < 1e-12);
  assert.equal(intersection([0, 0, 0.4, 0.4], [0.2, 0.1, 0.6, 0.4]), [0.2, 0.1, 0.4, 0.4]);
});

test('offset map is target cell centre minus online cell centre', () => {
  const online: Box = [0, 0, 0.5, 0.5];
  const target: Box = [0.5, 0.25, 1, 0.75];
  const out = new Float32Array(2 * 2 * 2);
  writeOffsetMap(online, target, 2, 2, out, 0);
  const [ox, oy] = cellCentre(online, 1, 0, 2, 2);
  const [tx, ty] = cellCentre(target, 1, 0, 2, 2);
  assert.ok(Math.abs(out[2]! - (tx - ox)) < 1e-7);
  assert.ok(Math.abs(out[4 + 2]! - (ty - oy)) < 1e-7);
  assert.ok(Math.abs(out[0]! - 0.5) < 1e-7 && Math.abs(out[4]! - 0.25) < 1e-7);
});

test('RoI positions of the full view box are the grid cell centres', () => {
  const view: Box = [0.1, 0.2, 0.9, 0.8];
  const out = new Float32Array(2 * 4 * 4);
  writeRoiPositions(view, view, 4, 4, 4, out, 0);
  for (let by = 0; by < 4; by++) for (let bx = 0; bx < 4; bx++) {
    assert.ok(Math.abs(out[2 * (by * 4 + bx)]! - bx) < 1e-5);
    assert.ok(Math.abs(out[2 * (by * 4 + bx) + 1]! - by) < 1e-5);
  }
});

test.run();
