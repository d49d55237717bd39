import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { QueueCursor } from '../../src/train/queue.js';

const rows = (c: QueueCursor, n: number): number[] => Array.from(c.rows(n), Number);

test('rows are the oldest, wrapping at the end; the pointer moves only on advance', () => {
  const c = new QueueCursor('queue_global', 10);
  assert.equal(rows(c, 4), [0, 1, 2, 3]);
  assert.equal(rows(c, 4), [0, 1, 2, 3], 'asking again (a skipped step) hands out the same rows');
  c.advance(4);
  c.advance(4);
  assert.is(c.pointer, 8);
  assert.equal(rows(c, 4), [8, 9, 0, 1]);
  c.advance(4);
  assert.is(c.pointer, 2);
  assert.equal(rows(new QueueCursor('q', 10, 7), 3), [7, 8, 9]);
});

test('bad lengths, pointers and key counts are named', () => {
  assert.throws(() => new QueueCursor('queue_dense', 0), /queue 'queue_dense': length must be an integer ≥ 1, got 0/);
  assert.throws(() => new QueueCursor('queue_dense', 8, 8), /pointer must be an integer in \[0, 8\), got 8 \(was moco.queue_size changed since the checkpoint\?\)/);
  assert.throws(() => new QueueCursor('q', 8).rows(9), /9 keys do not fit a queue of 8; moco.queue_size must be at least the keys per step/);
});

test.run();
