/**
 * What a training bundle holds, in numbers (`multisiam inspect`, `multisiam build`'s summary,
 * tools/bundle-report.ts): the key configuration, parameter counts of the online network per
 * top-level module, of the target and of the optimizer state, FLOPs of each graph counted from the
 * static shapes of its nodes (src/onnx/flops.ts) with "per step" = train_step + target_forward (what
 * the trainer runs each step; grad is for checks and custom optimisers), and each graph's inputs and
 * outputs grouped by role: data-like values listed with shapes, params, buffers, state and gradients
 * as counts and element totals.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { featureMapSize, peakLearningRate } from '../config/derived.js';
import type { MultiSiamConfig } from '../config/schema.js';
import { configHash, methodFor } from '../methods/index.js';
import { type FlopCount, formatFlops, graphFlops } from '../onnx/flops.js';
import { shapeSize } from '../onnx/dtype.js';
import { loadModel } from '../onnx/serialize.js';
import { GRAPH_FILES, type GraphKey, type Manifest, type ManifestTensor, type ManifestValue, readBundle } from './bundle.js';

/** Top-level names of torchvision's ResNet: everything under them is the backbone. */
const BACKBONE_ROOTS = new Set(['conv1', 'bn1', 'layer1', 'layer2', 'layer3', 'layer4', 'fc']);
/** Report order of the modules; others follow alphabetically. */
const MODULE_ORDER = ['backbone', 'projector', 'predictor', 'dense_projector', 'dense_predictor'];
/** Roles listed value by value; every other role (params, state, targets, gradients) is summarised as a count and an element total. */
const LISTED_ROLES = new Set(['data', 'hyper', 'queue', 'metric', 'feature']);
const GRAPH_KEYS = Object.keys(GRAPH_FILES) as GraphKey[];

export interface Count {
  readonly tensors: number;
  readonly elements: number;
}

export interface ModuleCount extends Count {
  readonly module: string;
}

export interface NetworkCount extends Count {
  readonly modules: readonly ModuleCount[];
}

export interface ParamCounts {
  /** Trainable parameters of the online network, per top-level module. */
  readonly online: NetworkCount;
  /** The target network's parameters (the EMA copy: no predictors for BYOL-framework methods). */
  readonly target: NetworkCount;
  /** BN running statistics. */
  readonly online_buffers: Count;
  readonly target_buffers: Count;
  /** Optimizer state inputs of train_step (`momentum.<param>`). */
  readonly optimizer_state: Count;
}

export interface ListedValue {
  readonly name: string;
  readonly role: string;
  readonly dtype: string;
  readonly shape: readonly number[];
}

export interface RoleCount extends Count {
  readonly role: string;
}

export interface ValueGroups {
  /** Data inputs, hyper-parameters, queues; metrics, targets and features: one by one. */
  readonly listed: readonly ListedValue[];
  /** Params, buffers, optimizer state, gradients: how many and how large. */
  readonly grouped: readonly RoleCount[];
}

export interface GraphSummary {
  readonly file: string;
  /** The model file plus its external data file, if any. */
  readonly bytes: number;
  /** Nodes in the model file. */
  readonly nodes: number;
  readonly flops: FlopCount;
  readonly inputs: ValueGroups;
  readonly outputs: ValueGroups;
}

export interface BundleFlops {
  readonly train_step: number;
  readonly target_forward: number;
  /** train_step + target_forward: what one training step runs. */
  readonly per_step: number;
  /** per_step / batch size. */
  readonly per_pair: number;
  readonly grad: number;
  readonly backbone: number;
}

export interface BundleInspection {
  readonly dir: string;
  readonly format_version: number;
  readonly method: string;
  /** The configuration in a few readable lines, by topic. */
  readonly config: Readonly<Record<string, string>>;
  readonly params: ParamCounts;
  readonly flops: BundleFlops;
  readonly graphs: Readonly<Record<GraphKey, GraphSummary>>;
  readonly files: readonly { readonly file: string; readonly bytes: number }[];
  readonly total_bytes: number;
}

/** The top-level module a parameter belongs to: 'backbone' for the ResNet, else its first name segment. */
export function moduleOf(name: string): string {
  const root = name.split('.')[0]!;
  return BACKBONE_ROOTS.has(root) ? 'backbone' : root;
}

function countNetwork(tensors: readonly { name: string; shape: readonly number[] }[]): NetworkCount {
  const modules = new Map<string, { tensors: number; elements: number }>();
  for (const t of tensors) {
    const m = moduleOf(t.name);
    const c = modules.get(m) ?? { tensors: 0, elements: 0 };
    c.tensors += 1;
    c.elements += shapeSize(t.shape);
    modules.set(m, c);
  }
  const rank = (m: string): number => (MODULE_ORDER.includes(m) ? MODULE_ORDER.indexOf(m) : MODULE_ORDER.length);
  const list = [...modules].map(([module, c]) => ({ module, ...c })).sort((a, b) => rank(a.module) - rank(b.module) || a.module.localeCompare(b.module));
  return { tensors: tensors.length, elements: list.reduce((s, m) => s + m.elements, 0), modules: list };
}

function count(tensors: readonly { shape: readonly number[] }[]): Count {
  return { tensors: tensors.length, elements: tensors.reduce((s, t) => s + shapeSize(t.shape), 0) };
}

/** Parameter, buffer and optimizer-state counts from a bundle's manifest. */
export function paramCounts(manifest: Manifest): ParamCounts {
  const withRole = (role: ManifestTensor['role']) => manifest.tensors.filter((t) => t.role === role);
  const roleOf = new Map(manifest.tensors.map((t) => [t.name, t.role]));
  // A target tensor copies an online one; what it counts as (parameter or statistic) follows its source.
  const targets = withRole('target').map((t) => ({ ...t, name: t.init.kind === 'copy' ? t.init.of : t.name }));
  return {
    online: countNetwork(withRole('param')),
    target: countNetwork(targets.filter((t) => roleOf.get(t.name) === 'param')),
    online_buffers: count(withRole('buffer')),
    target_buffers: count(targets.filter((t) => roleOf.get(t.name) === 'buffer')),
    optimizer_state: count(withRole('state')),
  };
}

function groupValues(values: readonly ManifestValue[]): ValueGroups {
  const listed: ListedValue[] = [];
  const grouped = new Map<string, { tensors: number; elements: number }>();
  for (const v of values) {
    if (LISTED_ROLES.has(v.role)) {
      listed.push({ name: v.name, role: v.role, dtype: v.dtype, shape: v.shape });
    } else {
      const c = grouped.get(v.role) ?? { tensors: 0, elements: 0 };
      c.tensors += 1;
      c.elements += shapeSize(v.shape);
      grouped.set(v.role, c);
    }
  }
  return { listed, grouped: [...grouped].map(([role, c]) => ({ role, ...c })) };
}

/** The configuration in a few lines: the shared ones, then what the method says about itself. */
export function keyConfig(cfg: MultiSiamConfig): Record<string, string> {
  const { h, w } = featureMapSize(cfg);
  const method = methodFor(cfg).describe(cfg);
  const o = cfg.optim;
  return {
    method: method.method ?? cfg.method,
    backbone: `${cfg.backbone.arch}, width ${cfg.backbone.width}, output stride ${cfg.backbone.output_stride} (${h}×${w} dense map)`,
    views: `${cfg.data.image_size}×${cfg.data.image_size}, batch ${cfg.train.batch_size} pairs, crop scale [${cfg.data.min_crop_scale}, ${cfg.data.max_crop_scale}]${pairRuleText(cfg)}`,
    ...Object.fromEntries(Object.entries(method).filter(([k]) => k !== 'method' && k !== 'target')),
    optimizer: `${o.name}, base_lr ${o.base_lr} (peak lr ${+peakLearningRate(cfg).toPrecision(6)}), weight decay ${o.weight_decay}, momentum ${o.momentum}${o.name === 'lars' ? `, trust coefficient ${o.trust_coefficient}` : ''}`,
    ...(method.target ? { target: method.target } : {}),
    hash: configHash(cfg),
  };
}

function pairRuleText(cfg: MultiSiamConfig): string {
  const rule = methodFor(cfg).pairs(cfg);
  return rule.iouThreshold > 0 ? `, IoU ≥ ${rule.iouThreshold}` : '';
}

/** Reads the bundle at `dir`, loads its graphs (loadModel) and summarises it. */
export function inspectBundle(dir: string): BundleInspection {
  const bundle = readBundle(dir);
  const m = bundle.manifest;
  const fileBytes = (name: string): number => {
    try {
      return statSync(join(dir, name)).size;
    } catch {
      return 0;
    }
  };
  const graphs = {} as Record<GraphKey, GraphSummary>;
  for (const key of GRAPH_KEYS) {
    const g = m.graphs[key];
    const model = loadModel(join(dir, g.file));
    const summary: GraphSummary = {
      file: g.file,
      bytes: fileBytes(g.file) + fileBytes(`${g.file}.data`),
      nodes: model.nodes.length,
      flops: graphFlops(model),
      inputs: groupValues(g.inputs),
      outputs: groupValues(g.outputs),
    };
    graphs[key] = summary;
  }
  const files = readdirSync(dir)
    .filter((f) => statSync(join(dir, f)).isFile())
    .sort()
    .map((file) => ({ file, bytes: fileBytes(file) }));
  const f = (k: GraphKey): number => graphs[k].flops.total;
  const perStep = f('train_step') + f('target_forward');
  const flops: BundleFlops = { train_step: f('train_step'), target_forward: f('target_forward'), per_step: perStep, per_pair: perStep / m.config.train.batch_size, grad: f('grad'), backbone: f('backbone') };
  return {
    dir: bundle.dir,
    format_version: m.format_version,
    method: m.method,
    config: keyConfig(m.config),
    params: paramCounts(m),
    flops,
    graphs,
    files,
    total_bytes: files.reduce((s, f) => s + f.bytes, 0),
  };
}

/** 23512344 → '23.51 M'. */
export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

/** 1536 → '1.5 KiB'. */
export function formatBytes(n: number): string {
  const units: [number, string][] = [[2 ** 30, 'GiB'], [2 ** 20, 'MiB'], [2 ** 10, 'KiB']];
  for (const [scale, unit] of units) if (n >= scale) return `${(n / scale).toFixed(1)} ${unit}`;
  return `${n} B`;
}

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** One line: online total and its modules. */
export function paramLine(p: ParamCounts): string {
  const modules = p.online.modules.map((m) => `${m.module} ${formatCount(m.elements)}`).join(', ');
  return `online ${formatCount(p.online.elements)} (${modules}); target ${formatCount(p.target.elements)}; optimizer state ${formatCount(p.optimizer_state.elements)}`;
}

function valueLines(label: string, groups: ValueGroups, indent: string): string[] {
  const lines: string[] = [];
  const width = Math.max(...groups.grouped.map((g) => g.role.length + 2), ...groups.listed.map((v) => v.name.length));
  lines.push(`${indent}${label}:`);
  for (const v of groups.listed) lines.push(`${indent}  ${v.name.padEnd(width)}  ${v.role.padEnd(7)}  ${v.dtype} ${shapeText(v.shape)}`);
  for (const g of groups.grouped) lines.push(`${indent}  ${`(${g.role})`.padEnd(width)}  ${g.tensors} tensors, ${formatCount(g.elements)} elements`);
  return lines;
}

/** The inspection as readable text. */
export function formatInspection(i: BundleInspection): string {
  const lines: string[] = [];
  lines.push(`bundle ${i.dir} (format version ${i.format_version}), ${i.files.length} files, ${formatBytes(i.total_bytes)}`);
  lines.push('', 'configuration');
  const keyWidth = Math.max(...Object.keys(i.config).map((k) => k.length));
  for (const [k, v] of Object.entries(i.config)) lines.push(`  ${k.padEnd(keyWidth)}  ${v}`);

  const p = i.params;
  const row = (label: string, c: Count, note = ''): string => `  ${label.padEnd(22)} ${formatCount(c.elements).padStart(9)}  ${String(c.tensors).padStart(4)} tensors${note}`;
  lines.push('', 'parameters');
  lines.push(row('online (trainable)', p.online));
  for (const m of p.online.modules) lines.push(`    ${m.module.padEnd(20)} ${formatCount(m.elements).padStart(9)}  ${String(m.tensors).padStart(4)} tensors`);
  lines.push(row('target', p.target, `  (${p.target.modules.map((m) => m.module).join(', ')})`));
  lines.push(row('BN statistics, online', p.online_buffers));
  lines.push(row('BN statistics, target', p.target_buffers));
  lines.push(row('optimizer state', p.optimizer_state, '  (momentum per parameter)'));

  {
    const f = i.flops;
    const split = (k: GraphKey): string => {
      const c = i.graphs[k].flops;
      return `  (multiply-add ${formatFlops(c.multiplyAdd)}, elementwise ${formatFlops(c.elementwise)})`;
    };
    lines.push('', 'FLOPs (2 × multiply-adds of Conv/ConvTranspose/MatMul/Gemm + 1 per output element of elementwise and reduction ops)');
    lines.push(`  train_step             ${formatFlops(f.train_step).padStart(11)}${split('train_step')}`);
    lines.push(`  target_forward         ${formatFlops(f.target_forward).padStart(11)}${split('target_forward')}`);
    lines.push(`  per step               ${formatFlops(f.per_step).padStart(11)}  (train_step + target_forward; ${formatFlops(f.per_pair)} per view pair)`);
    lines.push(`  grad                   ${formatFlops(f.grad).padStart(11)}  (checks and custom optimisers; not part of a step)`);
    lines.push(`  backbone               ${formatFlops(f.backbone).padStart(11)}  (inference on one batch)`);
    const unknown = [...new Set(GRAPH_KEYS.flatMap((k) => i.graphs[k].flops.unclassified))];
    if (unknown.length) lines.push(`  note: op types counted as elementwise without a rule: ${unknown.join(', ')}`);
  }

  lines.push('', 'graphs');
  for (const key of GRAPH_KEYS) {
    const g = i.graphs[key];
    lines.push(`  ${key} (${g.file}, ${formatBytes(g.bytes)}, ${g.nodes} nodes, ${formatFlops(g.flops.total)})`);
    lines.push(...valueLines('inputs', g.inputs, '    '));
    lines.push(...valueLines('outputs', g.outputs, '    '));
  }

  lines.push('', 'files');
  const fw = Math.max(...i.files.map((f) => f.file.length));
  for (const f of i.files) lines.push(`  ${f.file.padEnd(fw)}  ${formatBytes(f.bytes).padStart(10)}`);
  lines.push(`  ${'total'.padEnd(fw)}  ${formatBytes(i.total_bytes).padStart(10)}`);
  return lines.join('\n');
}
