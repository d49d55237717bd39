/**
 * Finds ONNX Runtime's shared library and opens its C API table.
 *
 * The library is onnxruntime-node's own `libonnxruntime.so.1` (the package pins ONNX Runtime
 * 1.29.0), so the C API and the CUDA provider installed beside it (`multisiam setup cuda`) come
 * from the same build. `MULTISIAM_ORT_LIBRARY` points elsewhere (tests, a custom build). An
 * older ONNX Runtime has no API version 29 table: that, an unloadable file and a file that is not
 * ONNX Runtime are errors that name the file and what to install, never a crash later on.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import koffi from 'koffi';
import { OrtLibraryError } from '../errors.js';

/** The C API version this runtime is written against: ONNX Runtime 1.29's `ORT_API_VERSION`. */
export const ORT_API_VERSION = 29;
/** Environment variable naming the ONNX Runtime library to load instead of onnxruntime-node's. */
export const ORT_LIBRARY_ENV = 'MULTISIAM_ORT_LIBRARY';

export interface OrtLibrary {
  readonly path: string;
  /** What the library reports through `GetVersionString`, e.g. "1.29.0". */
  readonly version: string;
  /** The `OrtApi` function table (a pointer). */
  readonly api: bigint;
  /** koffi closes a library when its handle is garbage-collected, unmapping every function in the table: hold it. */
  readonly handle: unknown;
}

/** The folder holding onnxruntime-node's native libraries, where a CUDA provider must be placed. */
export function ortBinaryDir(): string {
  const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
  return join(dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch);
}

/** The library `ortLibrary()` loads: `$MULTISIAM_ORT_LIBRARY`, else onnxruntime-node's. */
export function ortLibraryPath(): string {
  return process.env[ORT_LIBRARY_ENV] || join(ortBinaryDir(), 'libonnxruntime.so.1');
}

const GetApi = koffi.proto('void* GetApi(uint32_t version)');
const GetVersionString = koffi.proto('const char* GetVersionString()');

function remedy(): string {
  return `install onnxruntime-node 1.29.0 with \`npm ci\` (it ships libonnxruntime.so.1), or set ${ORT_LIBRARY_ENV} to the libonnxruntime.so.1 of ONNX Runtime 1.29 or newer`;
}

/**
 * RunWithBinding runs on koffi's async stack, and providers do real work on the calling thread
 * (WebGPU compiles shaders there): koffi's 128 KiB default overflowed (a segfault with WebGPU on
 * lavapipe), so async calls get what a Linux thread has by default. Koffi takes settings only
 * before it loads its first library.
 */
const ASYNC_STACK_BYTES = 8 * 1024 * 1024;
let configured = false;

function configureKoffi(): void {
  if (configured) return;
  koffi.config({ ...koffi.config(), async_stack_size: ASYNC_STACK_BYTES });
  configured = true;
}

/** Opens one library file and checks it provides the C API this runtime needs. */
export function loadOrtLibrary(path: string): OrtLibrary {
  configureKoffi();
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(path);
  } catch (e) {
    throw new OrtLibraryError(`cannot load ONNX Runtime from ${path}: ${(e as Error).message}; ${remedy()}`);
  }
  let base: bigint | null;
  try {
    base = lib.func('void* OrtGetApiBase()')() as bigint | null;
  } catch {
    throw new OrtLibraryError(`${path} is not ONNX Runtime: it has no OrtGetApiBase function; ${remedy()}`);
  }
  if (!base) throw new OrtLibraryError(`${path}: OrtGetApiBase returned NULL; ${remedy()}`);
  const [getApi, getVersion] = koffi.decode(base, 'void *', 2) as [bigint, bigint];
  const version = String(koffi.decode(getVersion, GetVersionString)() ?? 'unknown');
  const api = koffi.decode(getApi, GetApi)(ORT_API_VERSION) as bigint | null;
  if (!api) {
    throw new OrtLibraryError(`${path} is ONNX Runtime ${version}, which does not provide C API version ${ORT_API_VERSION} (ONNX Runtime 1.29 or newer does); ${remedy()}`);
  }
  return { path, version, api, handle: lib };
}

let loaded: OrtLibrary | null = null;

/** The process's ONNX Runtime, loaded on first use (ONNX Runtime allows one per process). */
export function ortLibrary(): OrtLibrary {
  loaded ??= loadOrtLibrary(ortLibraryPath());
  return loaded;
}
