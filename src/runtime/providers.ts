/**
 * Execution providers: what each needs, and an error that says how to get it when it cannot load.
 * ONNX Runtime throws at session creation when a requested provider is missing, and listing 'cpu'
 * after it does not make it fall back, so `auto` tries them one at a time (cuda when its libraries
 * are installed, then webgpu, then cpu).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ProviderUnavailableError } from './errors.js';
import { ortBinaryDir } from './ort/library.js';

export { ProviderUnavailableError } from './errors.js';
export { ortBinaryDir } from './ort/library.js';

export type ExecutionProvider = 'cpu' | 'webgpu' | 'cuda' | 'auto';
export type ConcreteProvider = Exclude<ExecutionProvider, 'auto'>;
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'webgpu', 'cuda', 'auto'];

/** The two libraries ONNX Runtime loads for the CUDA provider, from onnxruntime-node's binary folder. */
export const CUDA_PROVIDER_FILES = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'] as const;
/** Where the CUDA provider comes from: ONNX Runtime 1.29.0's CUDA 13 build, redistributed on npm. */
export const CUDA_PROVIDER_PACKAGE = 'com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9';
/** The command that installs the CUDA provider (src/cli/commands/setup.ts). */
export const CUDA_SETUP_COMMAND = 'multisiam setup cuda';

export interface ProviderAttempt {
  readonly name: ConcreteProvider;
  /** For `auto`: try the next provider when this one fails. */
  readonly fallThrough: boolean;
  explain(error: Error, model: string): Error;
}

/** The CUDA provider libraries that are not in onnxruntime-node's binary folder. */
export function missingCudaProviderFiles(dir = ortBinaryDir()): string[] {
  return CUDA_PROVIDER_FILES.filter((f) => !existsSync(join(dir, f)));
}

export function cudaProviderInstalled(): boolean {
  return missingCudaProviderFiles().length === 0;
}

/** Shared libraries the installed CUDA provider needs but the dynamic loader cannot find (`ldd`). */
export function missingCudaLibraries(dir = ortBinaryDir()): string[] {
  const so = join(dir, CUDA_PROVIDER_FILES[0]);
  if (!existsSync(so)) return [];
  const r = spawnSync('ldd', [so], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0 || !r.stdout) return [];
  return r.stdout.split('\n').filter((l) => /not found/.test(l)).map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean);
}

const CPU_HINT = 'or choose --ep cpu';

function cudaHow(): string {
  const missing = missingCudaProviderFiles();
  if (missing.length > 0) {
    return (
      `the CUDA provider is not installed: ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing from ${ortBinaryDir()}. ` +
      `Install it with \`${CUDA_SETUP_COMMAND}\` (it runs \`npm pack ${CUDA_PROVIDER_PACKAGE}\`, ONNX Runtime 1.29.0's CUDA 13 build, ` +
      `copies the two .so files there and lists the NVIDIA libraries it finds; \`${CUDA_SETUP_COMMAND} --check\` only reports); it also needs an NVIDIA driver and the CUDA 13 and cuDNN 9 libraries on LD_LIBRARY_PATH; ${CPU_HINT}`
    );
  }
  const libs = missingCudaLibraries();
  if (libs.length > 0) {
    return (
      `the CUDA provider is installed in ${ortBinaryDir()}, but the dynamic loader cannot find ${libs.join(', ')}: ` +
      `install CUDA 13 and cuDNN 9 and put their lib folders on LD_LIBRARY_PATH; ${CPU_HINT}`
    );
  }
  return `the CUDA provider is installed in ${ortBinaryDir()} and its libraries resolve; check that an NVIDIA GPU and driver are present (nvidia-smi); ${CPU_HINT}`;
}

const WEBGPU_HOW =
  'the WebGPU provider runs through Vulkan and found no usable adapter: it needs a Vulkan loader (libvulkan.so.1, Debian/Ubuntu package libvulkan1) ' +
  'and a Vulkan driver (NVIDIA: the driver plus libglvnd, see gpu/README.md; without a GPU: Mesa lavapipe 25 or newer, older ones are rejected); ' +
  CPU_HINT;

/** Messages ONNX Runtime gives when the provider itself cannot start (rather than the model failing on it). */
const UNAVAILABLE: Readonly<Record<ConcreteProvider, RegExp>> = {
  cpu: /$^/,
  webgpu: /adapter|vulkan|webgpu_context|dawn/i,
  cuda: /Failed to load shared library|providers_cuda|providers_shared|CUDA driver|cudaError|no CUDA-capable device/i,
};

/** The informative part of an ONNX Runtime message: the 'Failed to …' clause, else its first line without the source path. */
function firstLine(message: string): string {
  const failed = /(Failed to [^\n]*)/.exec(message)?.[1];
  return (failed ?? message.trim().split('\n')[0]!).replace(/^\/onnxruntime_src\/\S+\s*/, '').trim();
}

function attempt(name: ConcreteProvider, fallThrough: boolean): ProviderAttempt {
  return {
    name,
    fallThrough,
    explain: (error, model) => {
      if (name === 'cpu' || !UNAVAILABLE[name].test(error.message)) {
        return new Error(`${model}: ONNX Runtime could not create a session on the '${name}' execution provider: ${firstLine(error.message)}`);
      }
      const how = name === 'cuda' ? cudaHow() : WEBGPU_HOW;
      return new ProviderUnavailableError(`execution provider '${name}' is unavailable on this machine: ${how}. ONNX Runtime said: ${firstLine(error.message)}`);
    },
  };
}

/** The providers to try, in order, for a requested one. */
export function providerAttempts(ep: ExecutionProvider): ProviderAttempt[] {
  if (!EXECUTION_PROVIDERS.includes(ep)) throw new ProviderUnavailableError(`unknown execution provider '${ep}'; choose one of ${EXECUTION_PROVIDERS.join(', ')}`);
  if (ep !== 'auto') return [attempt(ep, false)];
  const chain: ProviderAttempt[] = [];
  if (cudaProviderInstalled()) chain.push(attempt('cuda', true));
  chain.push(attempt('webgpu', true), attempt('cpu', false));
  return chain;
}
