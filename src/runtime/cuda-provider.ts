/**
 * ONNX Runtime's CUDA execution provider for onnxruntime-node: where it comes from, installing it,
 * and what it needs from the host (`multisiam setup cuda [--check]`).
 *
 * onnxruntime-node's own install script fetches a provider from NuGet (skipped by .npmrc, and
 * unreachable on many machines). ONNX Runtime 1.29.0's provider, built for CUDA 13 and cuDNN 9, is
 * on the npm registry inside com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 (the
 * onnxruntime-unity project). Installing means: `npm pack` it, check that its provider is the
 * same ONNX Runtime version as onnxruntime-node (by the version string compiled into
 * libonnxruntime_providers_cuda.so: the package's own metadata names only its 0.4.9), and copy the
 * two provider libraries into onnxruntime-node's binary folder, each by an atomic rename. ORT loads
 * cuDNN and cuFFT at run time, so `ldd` alone does not list everything; the NVIDIA libraries are
 * looked up the way the dynamic loader does (LD_LIBRARY_PATH, then the ldconfig cache).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ortBinaryDir } from './ort/library.js';

/** The two libraries ONNX Runtime loads for the CUDA provider, from onnxruntime-node's binary folder. */
export const CUDA_PROVIDER_FILES = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'] as const;
/** Where the CUDA provider comes from: ONNX Runtime 1.29.0's CUDA 13 build, redistributed on npm. */
export const CUDA_PROVIDER_PACKAGE = 'com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9';
/** The ONNX Runtime version of that provider, which onnxruntime-node must match exactly. */
export const CUDA_PROVIDER_ORT_VERSION = '1.29.0';
/** The command that installs it (src/cli/commands/setup.ts). */
export const CUDA_SETUP_COMMAND = 'multisiam setup cuda';
/** Where the provider libraries sit inside the package. */
const PACKAGE_DIR = join('Plugins', 'Linux', 'x64');

/** The NVIDIA libraries the provider needs at run time (CUDA 13, cuDNN 9), with what provides them. */
export const NVIDIA_LIBRARIES: readonly { readonly name: string; readonly from: string }[] = [
  { name: 'libcuda.so.1', from: 'the NVIDIA driver' },
  { name: 'libcudart.so.13', from: 'CUDA 13 runtime' },
  { name: 'libcublas.so.13', from: 'CUDA 13 cuBLAS' },
  { name: 'libcublasLt.so.13', from: 'CUDA 13 cuBLAS' },
  { name: 'libcurand.so.10', from: 'CUDA 13 cuRAND' },
  { name: 'libcufft.so.12', from: 'CUDA 13 cuFFT' },
  { name: 'libcudnn.so.9', from: 'cuDNN 9' },
];

export interface CudaProviderOptions {
  /** onnxruntime-node's binary folder (default: the installed package's). */
  readonly binDir?: string;
  /** onnxruntime-node's version (default: read from its package.json). */
  readonly ortVersion?: string;
  /** The provider package as a .tgz or an unpacked folder, instead of `npm pack` (offline hosts, tests). */
  readonly from?: string;
  /** Progress lines (the download, each file installed). */
  readonly log?: (line: string) => void;
}

export interface LibraryStatus {
  readonly name: string;
  readonly from: string;
  /** Where the dynamic loader finds it, or null. */
  readonly path: string | null;
}

export interface CudaProviderReport {
  readonly binDir: string;
  readonly ortVersion: string;
  readonly files: readonly { readonly name: string; readonly present: boolean }[];
  /** ONNX Runtime versions named in the installed provider library (empty when it is not installed). */
  readonly providerVersions: readonly string[];
  readonly libraries: readonly LibraryStatus[];
  /** Libraries the installed provider links against that the loader cannot find (`ldd`). */
  readonly unresolved: readonly string[];
}

/** The CUDA provider libraries that are not in onnxruntime-node's binary folder. */
export function missingCudaProviderFiles(dir = ortBinaryDir()): string[] {
  return CUDA_PROVIDER_FILES.filter((f) => !existsSync(join(dir, f)));
}

/** onnxruntime-node's installed version. */
export function onnxruntimeNodeVersion(): string {
  const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

/**
 * The ONNX Runtime versions compiled into a provider library: NUL-delimited `X.Y.Z` strings in
 * the file (1.29.0's CUDA provider holds exactly one, "1.29.0"). Read in chunks: the file is 230 MB.
 */
export function providerVersions(file: string): string[] {
  const found = new Set<string>();
  const fd = openSync(file, 'r');
  try {
    const chunk = Buffer.alloc(8 << 20);
    let carry = '';
    for (let n = readSync(fd, chunk); n > 0; n = readSync(fd, chunk)) {
      const text = carry + chunk.toString('latin1', 0, n);
      for (const m of text.matchAll(/\0(\d{1,2}\.\d{1,3}\.\d{1,3})\0/g)) found.add(m[1]!);
      carry = text.slice(-16);
    }
  } finally {
    closeSync(fd);
  }
  return [...found].sort();
}

/** Where the dynamic loader would find a library: LD_LIBRARY_PATH first, then the ldconfig cache. */
export function findLibrary(name: string, ldconfigCache = ldconfigListing()): string | null {
  for (const dir of (process.env['LD_LIBRARY_PATH'] ?? '').split(':').filter(Boolean)) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  const line = ldconfigCache.split('\n').find((l) => l.trim().startsWith(`${name} `) && /x86-64/.test(l));
  return line ? line.split('=>')[1]!.trim() : null;
}

function ldconfigListing(): string {
  for (const ldconfig of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    const r = spawnSync(ldconfig, ['-p'], { encoding: 'utf8', timeout: 10_000 });
    if (r.status === 0) return r.stdout;
  }
  return '';
}

/** Shared libraries a library links against that the dynamic loader cannot find (`ldd`). */
export function unresolvedLibraries(file: string): string[] {
  if (!existsSync(file)) return [];
  const r = spawnSync('ldd', [file], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0 || !r.stdout) return [];
  return r.stdout.split('\n').filter((l) => /not found/.test(l)).map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean);
}

/** What is installed and what the host provides; changes nothing. */
export function checkCudaProvider(options: CudaProviderOptions = {}): CudaProviderReport {
  const binDir = options.binDir ?? ortBinaryDir();
  const cudaSo = join(binDir, CUDA_PROVIDER_FILES[0]);
  const cache = ldconfigListing();
  return {
    binDir,
    ortVersion: options.ortVersion ?? onnxruntimeNodeVersion(),
    files: CUDA_PROVIDER_FILES.map((name) => ({ name, present: existsSync(join(binDir, name)) })),
    providerVersions: existsSync(cudaSo) ? providerVersions(cudaSo) : [],
    libraries: NVIDIA_LIBRARIES.map((l) => ({ ...l, path: findLibrary(l.name, cache) })),
    unresolved: unresolvedLibraries(cudaSo),
  };
}

/** Whether a report shows a provider that ONNX Runtime can load and run here. */
export function cudaProviderReady(report: CudaProviderReport): boolean {
  return report.files.every((f) => f.present) && report.providerVersions.includes(report.ortVersion) && report.libraries.every((l) => l.path) && report.unresolved.length === 0;
}

/**
 * Installs the provider into onnxruntime-node's binary folder, or throws (changing nothing) when
 * onnxruntime-node or the package is not ONNX Runtime 1.29.0. Returns the report after installing.
 */
export function installCudaProvider(options: CudaProviderOptions = {}): CudaProviderReport {
  const log = options.log ?? (() => undefined);
  const binDir = options.binDir ?? ortBinaryDir();
  const ortVersion = options.ortVersion ?? onnxruntimeNodeVersion();
  if (`${process.platform}-${process.arch}` !== 'linux-x64') throw new Error(`the CUDA provider exists only for Linux x64 (this is ${process.platform}-${process.arch})`);
  if (ortVersion !== CUDA_PROVIDER_ORT_VERSION) {
    throw new Error(`${CUDA_PROVIDER_PACKAGE} carries ONNX Runtime ${CUDA_PROVIDER_ORT_VERSION}'s CUDA provider, but onnxruntime-node is ${ortVersion}; the versions must match exactly: run \`npm ci\` (package.json pins onnxruntime-node ${CUDA_PROVIDER_ORT_VERSION})`);
  }
  if (!existsSync(binDir)) throw new Error(`onnxruntime-node's binary folder ${binDir} does not exist; run \`npm ci\` first`);
  const work = mkdtempSync(join(tmpdir(), 'multisiam-cuda-'));
  try {
    const source = packageFolder(options.from ?? npmPack(work, log), work);
    const cudaSo = join(source, CUDA_PROVIDER_FILES[0]);
    const versions = providerVersions(cudaSo);
    if (!versions.includes(ortVersion)) {
      const named = versions.length > 0 ? `ONNX Runtime ${versions.join(' / ')}` : 'of an unknown ONNX Runtime version (no version string in it)';
      throw new Error(`the CUDA provider in ${options.from ?? CUDA_PROVIDER_PACKAGE} is ${named}, but onnxruntime-node is ${ortVersion}; nothing was installed`);
    }
    // Copy both beside their destination first, then rename: a crash leaves either the old files or the new ones.
    const staged = CUDA_PROVIDER_FILES.map((f) => {
      const tmp = join(binDir, `.${f}.${process.pid}.tmp`);
      copyFileSync(join(source, f), tmp);
      return { tmp, dest: join(binDir, f) };
    });
    for (const { tmp, dest } of staged) {
      renameSync(tmp, dest);
      log(`installed ${dest} (${(statSync(dest).size / 2 ** 20).toFixed(1)} MiB)`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
    for (const f of CUDA_PROVIDER_FILES) rmSync(join(binDir, `.${f}.${process.pid}.tmp`), { force: true });
  }
  return checkCudaProvider({ binDir, ortVersion });
}

/** Downloads the package tarball into `work` with npm; returns its path. */
function npmPack(work: string, log: (line: string) => void): string {
  log(`npm pack ${CUDA_PROVIDER_PACKAGE} (a download of about 180 MB) …`);
  const r = spawnSync('npm', ['pack', '--silent', CUDA_PROVIDER_PACKAGE], { cwd: work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (r.status !== 0 || !tgz) {
    throw new Error(`npm pack ${CUDA_PROVIDER_PACKAGE} failed (${(r.stderr || r.error?.message || `exit status ${r.status}`).trim()}); is the npm registry reachable? On an offline host, pass the tarball with --from`);
  }
  return join(work, tgz);
}

/** The folder holding the provider libraries, from a package tarball (unpacked into `work`) or an unpacked package. */
function packageFolder(from: string, work: string): string {
  if (!existsSync(from)) throw new Error(`${from} does not exist; pass the ${CUDA_PROVIDER_PACKAGE} tarball (.tgz) or its unpacked folder`);
  let root = from;
  if (statSync(from).isFile()) {
    const members = CUDA_PROVIDER_FILES.map((f) => `package/${PACKAGE_DIR}/${f}`);
    const r = spawnSync('tar', ['-xzf', from, '-C', work, ...members], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${from} is not a ${CUDA_PROVIDER_PACKAGE} tarball: tar could not extract ${members.join(' and ')} (${r.stderr.trim()})`);
    root = join(work, 'package');
  }
  const dir = [join(root, PACKAGE_DIR), join(root, 'package', PACKAGE_DIR)].find((d) => CUDA_PROVIDER_FILES.every((f) => existsSync(join(d, f))));
  if (!dir) throw new Error(`${from} does not hold ${CUDA_PROVIDER_FILES.join(' and ')} under ${PACKAGE_DIR}`);
  return dir;
}

/** The report as lines for a terminal. */
export function formatCudaReport(report: CudaProviderReport): string[] {
  const lines = [`onnxruntime-node ${report.ortVersion}; its binary folder is ${report.binDir}`];
  const missing = report.files.filter((f) => !f.present).map((f) => f.name);
  if (missing.length > 0) {
    lines.push(`CUDA provider: not installed (${missing.join(' and ')} missing); install it with \`${CUDA_SETUP_COMMAND}\``);
  } else if (report.providerVersions.includes(report.ortVersion)) {
    lines.push(`CUDA provider: installed, ONNX Runtime ${report.ortVersion}`);
  } else {
    const v = report.providerVersions.length > 0 ? report.providerVersions.join(' / ') : 'an unknown version';
    lines.push(`CUDA provider: installed, but it is ONNX Runtime ${v}, not ${report.ortVersion}: reinstall it with \`${CUDA_SETUP_COMMAND}\``);
  }
  lines.push('NVIDIA libraries (LD_LIBRARY_PATH, then the ldconfig cache):');
  for (const l of report.libraries) lines.push(`  ${l.path ? 'found  ' : 'MISSING'} ${l.name.padEnd(18)} ${l.path ?? `(${l.from})`}`);
  if (report.unresolved.length > 0) lines.push(`the provider links against libraries the loader cannot find: ${report.unresolved.join(', ')}`);
  const absent = report.libraries.filter((l) => !l.path);
  if (absent.length > 0) lines.push(`install ${[...new Set(absent.map((l) => l.from))].join(', ')} and put their lib folders on LD_LIBRARY_PATH before using --ep cuda`);
  return lines;
}
