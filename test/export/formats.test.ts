/**
 * The pickle and zip writers against Python's own readers: a pickle of every value kind unpickles to
 * the expected object (bytes included, under the default and detectron2's latin1 encoding), integers
 * beyond 32 bits are refused; a zip of stored entries passes zipfile's CRC check, holds the entries
 * as given, and starts every entry's data at the requested alignment.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Build, Dict, Global, PersistentId, type PickleValue, Reduce, Tuple, pickle } from '../../src/export/pickle.js';
import { zipStored } from '../../src/export/zip.js';
import { PYTHON } from '../graphs/torch.js';

const dir = mkdtempSync(join(tmpdir(), 'multisiam-export-formats-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function python(code: string, ...args: string[]): string {
  const r = spawnSync(PYTHON, ['-c', code, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python failed:\n${r.stderr}`);
  return r.stdout.trim();
}

const BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

if (!existsSync(PYTHON)) {
  test.skip(`pickle and zip against Python (${PYTHON} is missing)`, () => undefined);
} else {
  test('pickle: every value kind unpickles to the expected object under both encodings', () => {
    const value = new Dict(
      new Map<string, PickleValue>([
        ['ints', new Tuple([0, 255, 256, 65535, 65536, -1, -2147483648, 2147483647])],
        ['text', 'héllo ✓'],
        ['flags', new Tuple([true, false, null])],
        ['bytes', BYTES],
        ['empty', new Tuple([new Uint8Array(0), new Tuple([]), new Dict(new Map())])],
        ['long', new Tuple([1, 2, 3, 4, 5])],
        ['ordered', new Dict(new Map<string, PickleValue>([['b', 1], ['a', 2]]), new Reduce(new Global('collections', 'OrderedDict'), new Tuple([])))],
        ['built', new Build(new Reduce(new Global('collections', 'OrderedDict'), new Tuple([])), new Dict(new Map([['_metadata', 7]])))],
      ]),
    );
    const path = join(dir, 'value.pkl');
    writeFileSync(path, pickle(value));
    const out = python(
      `import collections, pickle, sys
expected = {'ints': (0, 255, 256, 65535, 65536, -1, -2147483648, 2147483647), 'text': 'héllo ✓', 'flags': (True, False, None),
  'bytes': bytes(range(256)), 'empty': (b'', (), {}), 'long': (1, 2, 3, 4, 5), 'ordered': collections.OrderedDict([('b', 1), ('a', 2)])}
for enc in ('ASCII', 'latin1'):
    got = pickle.load(open(sys.argv[1], 'rb'), encoding=enc)
    built = got.pop('built')
    assert got == expected and type(got['ordered']) is collections.OrderedDict and list(got) == list(expected), got
    assert built._metadata == 7
print('ok')`,
      path,
    );
    assert.is(out, 'ok');
  });

  test('pickle: a persistent id reaches persistent_load', () => {
    const path = join(dir, 'pid.pkl');
    writeFileSync(path, pickle(new Tuple([new PersistentId(new Tuple(['storage', 'key', 3]))])));
    const out = python(
      `import pickle, sys
class U(pickle.Unpickler):
    def persistent_load(self, pid): return ('loaded',) + pid
print(U(open(sys.argv[1], 'rb')).load())`,
      path,
    );
    assert.is(out, "(('loaded', 'storage', 'key', 3),)");
  });

  test('zip: stored entries pass the CRC check, read back as given and start aligned', () => {
    const entries = [
      { name: 'archive/data.pkl', data: BYTES },
      { name: 'archive/data/0', data: new Uint8Array(1000).fill(7) },
      { name: 'archive/empty', data: new Uint8Array(0) },
      { name: 'archive/version', data: Buffer.from('3\n') },
    ];
    const path = join(dir, 'a.zip');
    writeFileSync(path, Buffer.concat(zipStored(entries, 64)));
    const out = python(
      `import json, struct, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
raw = open(sys.argv[1], 'rb').read()
rows = []
for i in z.infolist():
    n, e = struct.unpack('<HH', raw[i.header_offset + 26:i.header_offset + 30])
    rows.append([i.filename, i.compress_type, list(z.read(i.filename)), (i.header_offset + 30 + n + e) % 64])
print(json.dumps(rows))`,
      path,
    );
    const rows = JSON.parse(out) as [string, number, number[], number][];
    assert.equal(rows.map((r) => r[0]), entries.map((e) => e.name));
    rows.forEach(([name, method, data, misalign], i) => {
      assert.is(method, 0, `${name} is stored`);
      assert.equal(data, [...entries[i]!.data], `${name} reads back`);
      assert.is(misalign, 0, `${name} starts 64-byte aligned`);
    });
  });
}

test('pickle refuses integers beyond 32 bits and non-integers', () => {
  assert.throws(() => pickle(2 ** 31), /2147483648 is not a 32-bit integer/);
  assert.throws(() => pickle(0.5), /0\.5 is not a 32-bit integer/);
});

test('zip refuses an entry name given twice', () => {
  assert.throws(() => zipStored([{ name: 'a', data: new Uint8Array(1) }, { name: 'a', data: new Uint8Array(1) }]), /entry 'a' appears twice/);
});

test.run();
