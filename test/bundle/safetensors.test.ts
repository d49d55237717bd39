import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeSafetensors, encodeSafetensors, f32, readSafetensors, type TensorMap, writeSafetensors } from '../../src/bundle/safetensors.js';

const PYTHON = '/usr/bin/python3';

/** One tensor of every dtype, with odd sizes so alignment and ordering matter. */
function everyDtype(): TensorMap {
  return new Map([
    ['backbone.conv1.weight', f32(Float32Array.of(1.5, -2.25, 3.1e-8, -0, 65504, 1e30), [2, 3, 1, 1])],
    ['a.f64', { dtype: 'F64', shape: [3], data: Float64Array.of(Math.PI, -1e-300, 2 ** 60) }],
    ['bn.num_batches_tracked', { dtype: 'I64', shape: [], data: BigInt64Array.of(-(2n ** 62n) + 7n) }],
    ['idx.i32', { dtype: 'I32', shape: [2, 2], data: Int32Array.of(-2147483648, 2147483647, 0, -1) }],
    ['bytes.u8', { dtype: 'U8', shape: [5], data: Uint8Array.of(0, 1, 127, 128, 255) }],
    ['mask.bool', { dtype: 'BOOL', shape: [3], data: Uint8Array.of(1, 0, 1) }],
    ['empty', f32(new Float32Array(0), [0, 4])],
  ]);
}

const plain = (t: TensorMap): unknown =>
  [...t].map(([k, v]) => [k, v.dtype, v.shape, Array.from(v.data as ArrayLike<number | bigint>, (x) => String(x))]).sort();

test('round trip for every dtype, with metadata; arrays are copies', () => {
  const src = everyDtype();
  const bytes = encodeSafetensors(src, { format: 'pt', note: 'ünïcode' });
  const back = decodeSafetensors(bytes);
  assert.equal(plain(back.tensors), plain(src));
  assert.equal(back.metadata, { format: 'pt', note: 'ünïcode' });
  bytes.fill(0, bytes.length - 8);
  assert.is(back.tensors.get('mask.bool')!.data[2], 1);
});

test('layout: 8-byte LE length, space-padded JSON, aligned data, deterministic order', () => {
  const bytes = encodeSafetensors(everyDtype());
  const n = Number(bytes.readBigUInt64LE(0));
  assert.is(n % 8, 0);
  const json = bytes.toString('utf8', 8, 8 + n);
  assert.ok(/^\{.*\} *$/.test(json));
  const header = JSON.parse(json) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const byStart = Object.entries(header).sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]).map(([k]) => k);
  assert.equal(byStart, ['a.f64', 'bn.num_batches_tracked', 'backbone.conv1.weight', 'empty', 'idx.i32', 'bytes.u8', 'mask.bool']);
  const size = { F64: 8, I64: 8, F32: 4, I32: 4, U8: 1, BOOL: 1 } as Record<string, number>;
  for (const e of Object.values(header)) assert.is((8 + n + e.data_offsets[0]) % size[e.dtype]!, 0);
  // Insertion order does not change the bytes.
  assert.equal(encodeSafetensors(new Map([...everyDtype()].reverse())), bytes);
});

test('an independent Python reader (struct + json + numpy) reads the same values', () => {
  if (!existsSync(PYTHON)) return console.log(`  (skipped: ${PYTHON} not found)`);
  const dir = mkdtempSync(join(tmpdir(), 'safetensors-'));
  try {
    const path = join(dir, 'params.safetensors');
    writeSafetensors(path, everyDtype(), { format: 'pt' });
    const script = [
      'import json, struct, sys',
      'import numpy as np',
      'raw = open(sys.argv[1], "rb").read()',
      '(n,) = struct.unpack("<Q", raw[:8])',
      'assert n % 8 == 0 and 8 + n <= len(raw)',
      'header = json.loads(raw[8:8 + n].decode("utf-8"))',
      'data = raw[8 + n:]',
      'types = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4", "U8": "u1", "BOOL": "?"}',
      'out = {"metadata": header.pop("__metadata__", {}), "tensors": {}}',
      'ends = []',
      'for name, e in header.items():',
      '    b, end = e["data_offsets"]',
      '    a = np.frombuffer(data[b:end], dtype=types[e["dtype"]]).reshape(e["shape"])',
      // Floats as JSON numbers (Python writes the shortest round-trip digits), integers as strings
      // so 64-bit values survive JSON.parse.
      '    vals = [v if isinstance(v, float) else str(int(v)) for v in a.reshape(-1).tolist()]',
      '    out["tensors"][name] = [e["dtype"], list(a.shape), vals]',
      '    ends.append((b, end))',
      'ends.sort()',
      'assert ends[0][0] == 0 and ends[-1][1] == len(data) and all(x[1] == y[0] for x, y in zip(ends, ends[1:]))',
      'print(json.dumps(out))',
    ].join('\n');
    const run = spawnSync(PYTHON, ['-c', script, path], { encoding: 'utf8' });
    assert.is(run.status, 0, run.stderr);
    const got = JSON.parse(run.stdout) as { metadata: Record<string, string>; tensors: Record<string, [string, number[], (number | string)[]]> };
    assert.equal(got.metadata, { format: 'pt' });
    for (const [name, t] of everyDtype()) {
      const [dtype, shape, vals] = got.tensors[name]!;
      assert.is(dtype, t.dtype, name);
      assert.equal(shape, t.shape, name);
      const mine = Array.from(t.data as ArrayLike<number | bigint>, (x) => (t.dtype.startsWith('F') ? x : String(x)));
      assert.is(vals.length, mine.length, name);
      vals.forEach((v, i) => assert.ok(Object.is(v, mine[i]), `${name}[${i}]: Python read ${v}, wrote ${mine[i]}`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('truncated, corrupt and inconsistent files give errors naming file and tensor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'safetensors-'));
  try {
    const path = join(dir, 'ckpt.safetensors');
    writeSafetensors(path, new Map([['w', f32(Float32Array.of(1, 2, 3, 4), [4])]]));
    const good = readFileSync(path);
    writeFileSync(path, good.subarray(0, good.length - 4));
    assert.throws(() => readSafetensors(path), (e: Error) => e.message.startsWith(path) && /tensor 'w': data_offsets \[0, 16\] fall outside the 12-byte data section/.test(e.message));
    writeFileSync(path, good.subarray(0, 5));
    assert.throws(() => readSafetensors(path), /5 bytes is too short/);
    const header = (h: object, data: number): Buffer => {
      const json = Buffer.from(JSON.stringify(h));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      return Buffer.concat([len, json, Buffer.alloc(data)]);
    };
    assert.throws(() => decodeSafetensors(header({ w: { dtype: 'F16', shape: [1], data_offsets: [0, 2] } }, 2), 'x.st'), /x.st: tensor 'w': unsupported dtype "F16"/);
    assert.throws(() => decodeSafetensors(header({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), 'x.st'), /tensor 'w': holds 8 bytes, but F32\[3\] needs 12/);
    assert.throws(
      () => decodeSafetensors(header({ a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [4], data_offsets: [2, 6] } }, 6), 'x.st'),
      /tensor 'b' starts at byte 2, expected 4/,
    );
    assert.throws(() => decodeSafetensors(header({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } }, 3), 'x.st'), /cover 2 of 3 data bytes/);
    assert.throws(() => encodeSafetensors(new Map([['w', f32(new Float32Array(3), [2, 2])]])), /tensor 'w' has shape \[2,2\] but 3 values/);
    assert.throws(() => encodeSafetensors(new Map([['w', { dtype: 'F32', shape: [1], data: new Float64Array(1) }]] as never)), /says dtype F32 but holds a Float64Array/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
