/**
 * `multisiam setup cuda [--check]` without the real 180 MB package: fake provider libraries that
 * carry a version string the way ONNX Runtime's do, in a package folder and a tarball, installed
 * into a temporary folder instead of onnxruntime-node's.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setupCommand } from '../../src/cli/commands/setup.js';
import { CUDA_PROVIDER_FILES, checkCudaProvider, findLibrary, formatCudaReport, installCudaProvider, providerVersions } from '../../src/runtime/cuda-provider.js';

const dir = mkdtempSync(join(tmpdir(), 'multisiam-cuda-test-'));

/** A package folder like com.github.asus4.onnxruntime.linux-x64-gpu's, whose CUDA provider names ONNX Runtime `version`. */
function fakePackage(name: string, version: string): string {
  const root = join(dir, name);
  const libs = join(root, 'package', 'Plugins', 'Linux', 'x64');
  mkdirSync(libs, { recursive: true });
  writeFileSync(join(libs, CUDA_PROVIDER_FILES[0]), Buffer.concat([Buffer.alloc(9000, 7), Buffer.from(`cudaGraphDestroy(graph)\0Replay\0${version}\0Failed to get device id.\0`)]));
  writeFileSync(join(libs, CUDA_PROVIDER_FILES[1]), 'shared provider bridge\n');
  return root;
}

function emptyBin(name: string): string {
  const bin = join(dir, name);
  mkdirSync(bin, { recursive: true });
  return bin;
}

test('the ONNX Runtime version is read from the strings compiled into the provider library', () => {
  const pkg = fakePackage('v129', '1.29.0');
  assert.equal(providerVersions(join(pkg, 'package', 'Plugins', 'Linux', 'x64', CUDA_PROVIDER_FILES[0])), ['1.29.0']);
});

test('install copies both provider libraries from a package folder or tarball and reports them', () => {
  const pkg = fakePackage('good', '1.29.0');
  for (const [label, from] of [['folder', pkg], ['tarball', join(dir, 'good.tgz')]] as const) {
    if (label === 'tarball') assert.is(spawnSync('tar', ['-czf', from, '-C', pkg, 'package']).status, 0);
    const bin = emptyBin(`bin-${label}`);
    const lines: string[] = [];
    const report = installCudaProvider({ binDir: bin, ortVersion: '1.29.0', from, log: (l) => lines.push(l) });
    for (const f of CUDA_PROVIDER_FILES) {
      assert.equal(readFileSync(join(bin, f)), readFileSync(join(pkg, 'package', 'Plugins', 'Linux', 'x64', f)), `${label}: ${f}`);
      assert.ok(lines.some((l) => l.startsWith(`installed ${join(bin, f)}`)), lines.join('\n'));
    }
    assert.equal(report.providerVersions, ['1.29.0']);
    assert.match(formatCudaReport(report).join('\n'), 'CUDA provider: installed, ONNX Runtime 1.29.0');
  }
});

test('install refuses a provider of another ONNX Runtime version, and changes nothing', () => {
  const bin = emptyBin('bin-refused');
  writeFileSync(join(bin, CUDA_PROVIDER_FILES[0]), 'the old one\n');
  assert.throws(
    () => installCudaProvider({ binDir: bin, ortVersion: '1.29.0', from: fakePackage('old', '1.28.0') }),
    /the CUDA provider in .*old is ONNX Runtime 1\.28\.0, but onnxruntime-node is 1\.29\.0; nothing was installed/,
  );
  assert.is(readFileSync(join(bin, CUDA_PROVIDER_FILES[0]), 'utf8'), 'the old one\n');
  assert.not.ok(existsSync(join(bin, CUDA_PROVIDER_FILES[1])));
});

test('install refuses when onnxruntime-node is not ONNX Runtime 1.29.0', () => {
  assert.throws(
    () => installCudaProvider({ binDir: emptyBin('bin-130'), ortVersion: '1.30.0', from: fakePackage('for-130', '1.29.0') }),
    /com\.github\.asus4\.onnxruntime\.linux-x64-gpu@0\.4\.9 carries ONNX Runtime 1\.29\.0's CUDA provider, but onnxruntime-node is 1\.30\.0; the versions must match exactly: run `npm ci`/,
  );
});

test('--check reports an installed provider of the wrong version, and libraries found on LD_LIBRARY_PATH', () => {
  const bin = emptyBin('bin-mismatch');
  const libs = join(fakePackage('mismatch', '1.28.0'), 'package', 'Plugins', 'Linux', 'x64');
  for (const f of CUDA_PROVIDER_FILES) writeFileSync(join(bin, f), readFileSync(join(libs, f)));
  const nvidia = emptyBin('nvidia');
  writeFileSync(join(nvidia, 'libcudnn.so.9'), '');
  const saved = process.env['LD_LIBRARY_PATH'];
  process.env['LD_LIBRARY_PATH'] = nvidia;
  try {
    assert.is(findLibrary('libcudnn.so.9'), join(nvidia, 'libcudnn.so.9'));
    const text = formatCudaReport(checkCudaProvider({ binDir: bin, ortVersion: '1.29.0' })).join('\n');
    assert.match(text, 'CUDA provider: installed, but it is ONNX Runtime 1.28.0, not 1.29.0: reinstall it with `multisiam setup cuda`');
    assert.match(text, `found   libcudnn.so.9      ${join(nvidia, 'libcudnn.so.9')}`);
  } finally {
    if (saved === undefined) delete process.env['LD_LIBRARY_PATH'];
    else process.env['LD_LIBRARY_PATH'] = saved;
  }
});

test('`setup cuda --check` on this machine reports and changes nothing', async () => {
  const before = checkCudaProvider();
  const lines: string[] = [];
  const log = console.log;
  const exitCode = process.exitCode;
  console.log = (line: string) => lines.push(line);
  try {
    await setupCommand.handler({ what: 'cuda', check: true, _: ['setup'], $0: 'multisiam' });
  } finally {
    console.log = log;
  }
  const ready = process.exitCode !== 1;
  process.exitCode = exitCode;
  const text = lines.join('\n');
  assert.match(text, `onnxruntime-node 1.29.0; its binary folder is ${before.binDir}`);
  assert.match(text, 'NVIDIA libraries (LD_LIBRARY_PATH, then the ldconfig cache):');
  for (const name of ['libcudart.so.13', 'libcublas.so.13', 'libcublasLt.so.13', 'libcurand.so.10', 'libcufft.so.12', 'libcudnn.so.9']) assert.match(text, name);
  if (before.files.some((f) => !f.present)) {
    assert.match(text, 'CUDA provider: not installed');
    assert.not.ok(ready, '--check exits with status 1 when the provider is missing');
  }
  assert.equal(checkCudaProvider().files, before.files, 'nothing was installed');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
