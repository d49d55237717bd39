/**
 * Execution providers: what each needs, and an error that says how to get it when it cannot load.
 * ONNX Runtime throws at session creation when a requested provider is missing, and listing 'cpu'
 * after it does not make it fall back, so `auto` tries them one at a time (cuda when its libraries
 * are installed, then webgpu, then cpu).
 */
import { join } from 'node:path';
import { CUDA_PROVIDER_FILES, CUDA_PROVIDER_PACKAGE, CUDA_SETUP_COMMAND, NVIDIA_LIBRARIES, findLibrary, missingCudaProviderFiles, unresolvedLibraries } from './cuda-provider.js';
import { ProviderUnavailableError } from './errors.js';
import { ortBinaryDir } from './ort/library.js';

export { CUDA_PROVIDER_FILES, CUDA_PROVIDER_PACKAGE, CUDA_SETUP_COMMAND, missingCudaProviderFiles } from './cuda-provider.js';
export { ProviderUnavailableError } from './errors.js';
export { ortBinaryDir } from './ort/library.js';

export type ExecutionProvider = 'cpu' | 'webgpu' | 'cuda' | 'auto';
export type ConcreteProvider = Exclude<ExecutionProvider, 'auto'>;
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'webgpu', 'cuda', 'auto'];

export interface ProviderAttempt {
  readonly name: ConcreteProvider;
  /** For `auto`: try the next provider when this one fails. */
  readonly fallThrough: boolean;
  explain(error: Error, model: string): Error;
}

export function cudaProviderInstalled(): boolean {
  return missingCudaProviderFiles().length === 0;
}

/**
 * Libraries the installed CUDA provider needs that the dynamic loader cannot find: what `ldd`
 * reports, and the NVIDIA libraries ORT opens at run time (cuDNN, cuFFT), which `ldd` does not list.
 */
export function missingCudaLibraries(dir = ortBinaryDir()): string[] {
  const linked = unresolvedLibraries(join(dir, CUDA_PROVIDER_FILES[0]));
  return [...new Set([...linked, ...NVIDIA_LIBRARIES.filter((l) => !findLibrary(l.name)).map((l) => l.name)])];
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
