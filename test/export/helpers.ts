/**
 * Shared by the export tests: configurations, backbones with random weights built from the resnet
 * graph's declared inputs (no bundle needed), and the training-graph backbone (params as inputs) as
 * the reference every export is compared with.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import { buildBackbone } from '../../src/bundle/graphs.js';
import type { MultiSiamConfig } from '../../src/config/index.js';
import { uniformStream } from '../../src/data/rng.js';
import { type Backbone, type BackboneTensor, type Network, backboneGraph, multisiamVersion, weightInputs } from '../../src/export/backbone.js';
import { resolveConfig } from '../../src/methods/index.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { Session } from '../../src/runtime/session.js';

export function config(preset: 'tiny' | 'r18' | 'r50', sets: string[] = []): MultiSiamConfig {
  return resolveConfig({ preset, sets });
}

/** A temporary directory removed when the suite ends. */
export function scratch(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `multisiam-export-${name}-`));
  test.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/**
 * Every backbone tensor drawn at random: convolutions from their kaiming init, BN affine and running
 * statistics spread out so that inference-mode BN is far from an identity.
 */
export function randomBackbone(cfg: MultiSiamConfig, seed: number, step = 0, network: Network = 'online'): Backbone {
  const r = uniformStream(seed);
  const tensors = new Map<string, BackboneTensor>();
  for (const input of weightInputs(backboneGraph(cfg))) {
    const { name, shape, size } = input.value;
    const init = input.init!;
    const bn = /(^|\.)bn\d\.|downsample\.1\./.test(name);
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      data[i] = name.endsWith('running_mean') ? 0.1 * normal(r)
        : name.endsWith('running_var') ? 0.5 + r()
        : bn && name.endsWith('weight') ? 0.75 + 0.5 * r()
        : bn ? 0.1 * normal(r)
        : init.kind === 'normal' ? init.std * normal(r) : 0;
    }
    tensors.set(name, { shape, data });
  }
  return { config: cfg, tensors, provenance: { source: 'bundle', dir: '/nowhere', step, method: cfg.method, network, configHash: '0123456789abcdef', version: multisiamVersion() } };
}

/** Every tensor filled with a cheap pattern (distinct values, no randomness): for names, shapes and bytes. */
export function patternBackbone(cfg: MultiSiamConfig): Backbone {
  const tensors = new Map<string, BackboneTensor>();
  for (const { value } of weightInputs(backboneGraph(cfg))) {
    const data = new Float32Array(value.size);
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i + tensors.size);
    tensors.set(value.name, { shape: value.shape, data });
  }
  return { config: cfg, tensors, provenance: { source: 'bundle', dir: '/nowhere', step: 0, method: cfg.method, network: 'online', configHash: '', version: multisiamVersion() } };
}

/** A normal(0, 1) image batch (batch, 3, height, width). */
export function randomImages(batch: number, height: number, width: number, seed: number): Float32Array {
  const r = uniformStream(seed);
  return Float32Array.from({ length: batch * 3 * height * width }, () => normal(r));
}

export interface Features {
  readonly features: Float32Array;
  readonly pooled: Float32Array;
  readonly dims: readonly number[];
}

/** The training bundle's backbone graph (weights fed as inputs) on `images`: the reference. */
export async function trainingBackbone(backbone: Backbone, images: Float32Array, batch: number, size: number, optimization: 'disabled' | 'basic' = 'basic'): Promise<Features> {
  const cfg = backbone.config;
  const graph = buildBackbone({ ...cfg, data: { ...cfg.data, image_size: size } }, batch);
  const session = await Session.create(writeModel(graph).model, { optimization }, 'training backbone');
  const feeds: Record<string, Float32Array> = { image: images };
  for (const [name, t] of backbone.tensors) feeds[name] = t.data;
  const out = await session.run(feeds);
  await session.release();
  return { features: out['features']!.data as Float32Array, pooled: out['pooled']!.data as Float32Array, dims: out['features']!.dims };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths ${a.length} and ${b.length} differ`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}
