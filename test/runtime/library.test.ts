/**
 * Loading ONNX Runtime: a file that does not load, a library that is not ONNX Runtime, and an
 * ONNX Runtime too old for C API 29 (a tiny C library compiled here, whose GetApi returns NULL and
 * whose GetVersionString says "1.15.0") each give an error naming the file and what to install;
 * MULTISIAM_ORT_LIBRARY selects the library for a whole process.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OrtLibraryError } from '../../src/runtime/errors.js';
import { ORT_LIBRARY_ENV, loadOrtLibrary, ortLibrary, ortLibraryPath } from '../../src/runtime/ort/library.js';

const dir = mkdtempSync(join(tmpdir(), 'multisiam-ort-'));
const REMEDY = `install onnxruntime-node 1.29.0 with \`npm ci\` (it ships libonnxruntime.so.1), or set ${ORT_LIBRARY_ENV} to the libonnxruntime.so.1 of ONNX Runtime 1.29 or newer`;

const OLD_ORT = `
#include <stddef.h>
static const void* get_api(unsigned version) { (void)version; return NULL; }
static const char* version_string(void) { return "1.15.0"; }
static const void* api_base[2] = { (const void*)get_api, (const void*)version_string };
const void* OrtGetApiBase(void) { return api_base; }
`;

/** Compiles C source into a shared library in the test's folder. */
function compile(name: string, source: string): string {
  const c = join(dir, `${name}.c`);
  const so = join(dir, `${name}.so`);
  writeFileSync(c, source);
  const r = spawnSync('gcc', ['-shared', '-fPIC', '-o', so, c], { encoding: 'utf8' });
  assert.is(r.status, 0, `gcc (needed for this test) failed: ${r.error?.message ?? r.stderr}`);
  return so;
}

function loadError(path: string): Error {
  try {
    loadOrtLibrary(path);
  } catch (e) {
    return e as Error;
  }
  throw new Error(`${path} loaded`);
}

test("onnxruntime-node's library provides C API 29 (ONNX Runtime 1.29.0)", () => {
  const lib = ortLibrary();
  assert.is(lib.path, ortLibraryPath());
  assert.is(lib.version, '1.29.0');
});

test('a file that does not load is named, with what to install', () => {
  const path = join(dir, 'libonnxruntime.so.1');
  writeFileSync(path, 'not a shared library\n');
  const e = loadError(path);
  assert.instance(e, OrtLibraryError);
  assert.match(e.message, `cannot load ONNX Runtime from ${path}: `);
  assert.match(e.message, REMEDY);
});

test('a library without OrtGetApiBase is not ONNX Runtime', () => {
  const path = compile('other', 'int answer(void) { return 42; }\n');
  const e = loadError(path);
  assert.instance(e, OrtLibraryError);
  assert.match(e.message, `${path} is not ONNX Runtime: it has no OrtGetApiBase function; ${REMEDY}`);
});

test('an ONNX Runtime without C API 29 names its version', () => {
  const path = compile('old', OLD_ORT);
  const e = loadError(path);
  assert.instance(e, OrtLibraryError);
  assert.match(e.message, `${path} is ONNX Runtime 1.15.0, which does not provide C API version 29 (ONNX Runtime 1.29 or newer does); ${REMEDY}`);
});

test(`${ORT_LIBRARY_ENV} selects the library a session loads`, () => {
  const path = compile('old-env', OLD_ORT);
  const session = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'runtime', 'session.js');
  const script = `import(${JSON.stringify(session)}).then((m) => m.Session.create(new Uint8Array(8))).catch((e) => { console.error(e.name + ': ' + e.message); process.exit(3); });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, [ORT_LIBRARY_ENV]: path } });
  assert.is(r.status, 3, r.stderr);
  assert.match(r.stderr, `OrtLibraryError: ${path} is ONNX Runtime 1.15.0, which does not provide C API version 29`);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
