/**
 * Execution-provider choice and the settings each provider gets. Where a provider cannot load
 * (no CUDA provider here; no Vulkan adapter on a machine without lavapipe) the tests assert the
 * install guidance; where it loads they run a step instead.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProviderUnavailableError } from '../../src/runtime/errors.js';
import { CUDA_SETUP_COMMAND, cudaProviderInstalled, missingCudaProviderFiles, providerAttempts } from '../../src/runtime/providers.js';
import { liveGpuTensors } from '../../src/runtime/residency.js';
import { cudaSettings, sessionPlan } from '../../src/runtime/session-options.js';
import { Session } from '../../src/runtime/session.js';
import { stepModel, webgpuSession } from './helpers.js';

const feeds = () => ({ w: Float32Array.of(1, 2, 3, 4, 5, 6), x: new Float32Array(6).fill(1), lr: Float32Array.of(0.5), n: BigInt64Array.of(3n) });

test('auto tries cuda only when its libraries are installed, then webgpu, then cpu', () => {
  const chain = providerAttempts('auto').map((a) => `${a.name}${a.fallThrough ? '→' : ''}`);
  assert.equal(chain, cudaProviderInstalled() ? ['cuda→', 'webgpu→', 'cpu'] : ['webgpu→', 'cpu']);
  assert.equal(providerAttempts('cpu').map((a) => a.name), ['cpu']);
});

test('an unknown provider name lists the valid ones', () => {
  assert.throws(() => providerAttempts('tpu' as never), /unknown execution provider 'tpu'; choose one of cpu, webgpu, cuda, auto/);
});

test('CUDA settings: every key in one update, TF32 off and exhaustive cuDNN search by default', () => {
  assert.equal(cudaSettings(), { device_id: '0', use_tf32: '0', cudnn_conv_algo_search: 'EXHAUSTIVE', enable_cuda_graph: '0' });
  assert.equal(cudaSettings({ deviceId: 1, tf32: true, cudnnConvAlgoSearch: 'heuristic', cudaGraph: true, gpuMemLimit: 2 ** 34, arenaExtendStrategy: 'sameAsRequested' }), {
    device_id: '1',
    use_tf32: '1',
    cudnn_conv_algo_search: 'HEURISTIC',
    enable_cuda_graph: '1',
    gpu_mem_limit: '17179869184',
    arena_extend_strategy: 'kSameAsRequested',
  });
});

test('session plans per provider: provider settings, WebGPU nodes forced to the CPU, the CPU-fallback guard', () => {
  const o = { threads: 3, optimization: 'all', residentOutputs: ['next.w'], forceCpuNodes: ['bn/BatchNormalization_0', 'pool/MaxPool'], deviceOnly: true, cuda: { deviceId: 1 } } as const;
  assert.equal(sessionPlan('webgpu', o), {
    optimization: 'all',
    threads: 3,
    config: { 'session.disable_cpu_ep_fallback': '1', 'ep.webgpuexecutionprovider.forceCpuNodeNames': 'bn/BatchNormalization_0\npool/MaxPool' },
    provider: { name: 'WebGPU', settings: {} },
  });
  assert.equal(sessionPlan('cuda', o), { optimization: 'all', threads: 3, config: { 'session.disable_cpu_ep_fallback': '1' }, provider: { name: 'CUDA', settings: cudaSettings({ deviceId: 1 }) } });
  assert.equal(sessionPlan('cpu', o), { optimization: 'all', threads: 3, config: {}, provider: null });
  assert.equal(sessionPlan('cpu', {}), { optimization: 'basic', threads: null, config: {}, provider: null });
});

test('a model that fails on a provider is not reported as a missing provider', () => {
  const [webgpu] = providerAttempts('webgpu');
  const e = webgpu!.explain(new Error('/onnxruntime_src/x.cc:12 Load model failed: bad node'), 'step');
  assert.not.instance(e, ProviderUnavailableError);
  assert.match(e.message, "step: ONNX Runtime could not create a session on the 'webgpu' execution provider: Load model failed: bad node");
});

test('webgpu: runs with resident outputs where an adapter exists, else says what to install', async () => {
  const s = await webgpuSession(stepModel(), { residentOutputs: ['next.w'] });
  if (!(s instanceof Session)) {
    assert.match(s.message, "execution provider 'webgpu' is unavailable on this machine");
    assert.match(s.message, 'libvulkan.so.1, Debian/Ubuntu package libvulkan1');
    assert.match(s.message, 'or choose --ep cpu');
    assert.match(s.message, /ONNX Runtime said: .*adapter/);
    return;
  }
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

test('cuda: names the provider and the setup command when it is missing', async () => {
  let s: Session | Error;
  try {
    s = await Session.create(stepModel(), { ep: 'cuda', residentOutputs: ['next.w'] }, 'step');
  } catch (e) {
    s = e as Error;
  }
  if (s instanceof Session) {
    // A GPU host: a resident step through the C API.
    assert.is(s.ep, 'cuda');
    const r = await s.execute(feeds());
    assert.is(r.memory('next.w'), 'cuda');
    assert.equal(Array.from((await r.read('next.w')) as Float32Array), [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
    r.dispose();
    await s.release();
    return;
  }
  assert.instance(s, ProviderUnavailableError);
  assert.match(s.message, "execution provider 'cuda' is unavailable on this machine");
  if (missingCudaProviderFiles().length > 0) {
    assert.match(s.message, 'libonnxruntime_providers_cuda.so and libonnxruntime_providers_shared.so are missing from');
    assert.match(s.message, `\`${CUDA_SETUP_COMMAND}\``);
    assert.match(s.message, 'com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9');
  }
  assert.match(s.message, 'CUDA 13 and cuDNN 9');
  assert.match(s.message, /ONNX Runtime said: Failed to load library .*libonnxruntime_providers_shared\.so/);
});

test('auto takes the first provider that loads and records why each earlier one was skipped', async () => {
  const s = await Session.create(stepModel(), { ep: 'auto' }, 'step');
  if (s.ep === 'cpu') assert.ok(s.skipped.some((r) => r.startsWith("webgpu: execution provider 'webgpu' is unavailable")), s.skipped.join('\n'));
  if (s.ep === 'webgpu' && !cudaProviderInstalled()) assert.equal(s.skipped, []);
  const out = await s.run(feeds());
  assert.is((out['loss']!.data as Float32Array)[0], 21);
  await s.release();
});

test.run();
