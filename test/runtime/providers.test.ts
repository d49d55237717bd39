/**
 * Execution-provider choice. On a machine without a usable Vulkan adapter or CUDA provider (CI,
 * this build machine) the webgpu/cuda cases assert the error messages; where the provider loads
 * (a GPU host) they run a step instead, including the gpu-buffer residency path.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProviderUnavailableError } from '../../src/runtime/errors.js';
import { CUDA_INSTALL_SCRIPT, cudaProviderInstalled, missingCudaProviderFiles, providerAttempts } from '../../src/runtime/providers.js';
import { liveGpuTensors } from '../../src/runtime/residency.js';
import { Session, ortOptions } from '../../src/runtime/session.js';
import { stepModel } from './helpers.js';

const feeds = () => ({ w: Float32Array.of(1, 2, 3, 4, 5, 6), x: new Float32Array(6).fill(1), lr: Float32Array.of(0.5), n: BigInt64Array.of(3n) });

async function tryCreate(ep: 'webgpu' | 'cuda', gpuOutputs?: readonly string[]): Promise<Session | Error> {
  try {
    return await Session.create(stepModel(), { ep, ...(gpuOutputs ? { gpuOutputs } : {}) }, 'step');
  } catch (e) {
    return e as Error;
  }
}

test('auto tries cuda only when its libraries are installed, then webgpu, then cpu', () => {
  const chain = providerAttempts('auto').map((a) => `${a.name}${a.fallThrough ? '→' : ''}`);
  assert.equal(chain, cudaProviderInstalled() ? ['cuda→', 'webgpu→', 'cpu'] : ['webgpu→', 'cpu']);
  assert.equal(providerAttempts('cpu').map((a) => a.name), ['cpu']);
});

test('an unknown provider name lists the valid ones', () => {
  assert.throws(() => providerAttempts('tpu' as never), /unknown execution provider 'tpu'; choose one of cpu, webgpu, cuda, auto/);
});

test('session options per provider: gpu-buffer outputs only for webgpu, provider options, CPU-fallback guard', () => {
  const o = { threads: 3, optimization: 'all', gpuOutputs: ['next.w', 'next.momentum.w'], forceCpuNodes: ['bn/BatchNormalization_0'], deviceOnly: true, deviceId: 1 } as const;
  assert.equal(ortOptions('webgpu', o), {
    executionProviders: [{ name: 'webgpu', forceCpuNodeNames: ['bn/BatchNormalization_0'] }],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 3,
    preferredOutputLocation: { 'next.w': 'gpu-buffer', 'next.momentum.w': 'gpu-buffer' },
    extra: { session: { disable_cpu_ep_fallback: '1' } },
  });
  assert.equal(ortOptions('webgpu', { gpuOutputs: 'all' }).preferredOutputLocation, 'gpu-buffer');
  assert.equal(ortOptions('cuda', o), { executionProviders: [{ name: 'cuda', deviceId: 1 }], graphOptimizationLevel: 'all', intraOpNumThreads: 3, extra: { session: { disable_cpu_ep_fallback: '1' } } });
  assert.equal(ortOptions('cpu', o), { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: 3 });
  assert.equal(ortOptions('cpu', {}), { executionProviders: ['cpu'], graphOptimizationLevel: 'basic' });
});

test('a model that fails on a provider is not reported as a missing provider', () => {
  const [webgpu] = providerAttempts('webgpu');
  const e = webgpu!.explain(new Error('/onnxruntime_src/x.cc:12 Load model failed: bad node'), 'step');
  assert.not.instance(e, ProviderUnavailableError);
  assert.match(e.message, "step: ONNX Runtime could not create a session on the 'webgpu' execution provider: Load model failed: bad node");
});

test('webgpu: runs with gpu-buffer outputs where an adapter exists, else says what to install', async () => {
  const s = await tryCreate('webgpu', ['next.w']);
  if (s instanceof Error) {
    assert.instance(s, ProviderUnavailableError);
    assert.match(s.message, "execution provider 'webgpu' is unavailable on this machine");
    assert.match(s.message, 'libvulkan.so.1, Debian/Ubuntu package libvulkan1');
    assert.match(s.message, 'or choose --ep cpu');
    assert.match(s.message, /ONNX Runtime said: .*adapter/);
    return;
  }
  // A GPU host: the residency path for real.
  assert.is(s.ep, 'webgpu');
  assert.equal(s.deviceOutputs, ['next.w']);
  const before = liveGpuTensors();
  try {
    await s.run(feeds());
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /stay on the GPU, so run\(\) cannot return them; use execute\(\)/);
  }
  const r1 = await s.execute(feeds());
  assert.is(r1.onDevice('next.w'), true);
  assert.is(r1.onDevice('loss'), false);
  assert.is(await r1.scalar('loss'), 21);
  const w1 = r1.keep('next.w');
  r1.dispose();
  const r2 = await s.execute({ ...feeds(), w: w1 });
  assert.equal(Array.from((await r2.read('next.w')) as Float32Array), [2, 3, 4, 5, 6, 7]);
  r2.dispose();
  w1.dispose();
  assert.is(liveGpuTensors(), before);
  await s.release();
});

test('cuda: names the provider and the install script when it is missing', async () => {
  const s = await tryCreate('cuda');
  if (!(s instanceof Error)) {
    assert.is(s.ep, 'cuda');
    const out = await s.run(feeds());
    assert.equal(Array.from(out['next.w']!.data as Float32Array), [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
    await s.release();
    return;
  }
  assert.instance(s, ProviderUnavailableError);
  assert.match(s.message, "execution provider 'cuda' is unavailable on this machine");
  if (missingCudaProviderFiles().length > 0) {
    assert.match(s.message, 'libonnxruntime_providers_cuda.so and libonnxruntime_providers_shared.so are missing from');
    assert.match(s.message, `bash ${CUDA_INSTALL_SCRIPT}`);
    assert.match(s.message, 'com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9');
  }
  assert.match(s.message, 'CUDA 13 and cuDNN 9');
  assert.match(s.message, 'ONNX Runtime said: Failed to load shared library');
});

test('auto falls back to the CPU here and records why each provider was skipped', async () => {
  const s = await Session.create(stepModel(), { ep: 'auto' }, 'step');
  if (s.ep === 'cpu') {
    assert.ok(s.skipped.some((r) => r.startsWith("webgpu: execution provider 'webgpu' is unavailable")), s.skipped.join('\n'));
  }
  const out = await s.run(feeds());
  assert.is((out['loss']!.data as Float32Array)[0], 21);
  await s.release();
});

test.run();
