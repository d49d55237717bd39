/**
 * The trained backbone as the exporters see it: the configuration that shapes it, its parameters and
 * BN statistics under torchvision's names (the names src/graphs/resnet.ts declares), and where they
 * came from. The key set is exactly the inference backbone graph's weight inputs, so every exporter
 * writes the same tensors: conv1, bn1, layer1–4 (no heads, no fc).
 */
import { createRequire } from 'node:module';
import { buildBackbone } from '../bundle/graphs.js';
import type { TensorMap } from '../bundle/safetensors.js';
import type { MultiSiamConfig } from '../config/index.js';
import { NAMES } from '../graphs/io.js';
import { scaledChannels } from '../graphs/resnet.js';
import type { Graph, GraphInput } from '../onnx/ir.js';

export type Network = 'online' | 'target';
export const NETWORKS: readonly Network[] = ['online', 'target'];

export interface BackboneTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface Provenance {
  /** A run's checkpoint, or a bundle's initial tensors. */
  readonly source: 'run' | 'bundle';
  /** The run directory or the bundle directory. */
  readonly dir: string;
  /** Optimizer steps taken: the checkpoint's step, 0 for a bundle. */
  readonly step: number;
  readonly method: string;
  readonly network: Network;
  readonly configHash: string;
  /** The multisiam version that wrote the export. */
  readonly version: string;
}

export interface Backbone {
  readonly config: MultiSiamConfig;
  /** Parameters and running statistics by torchvision name, in torchvision's state-dict order. */
  readonly tensors: ReadonlyMap<string, BackboneTensor>;
  readonly provenance: Provenance;
}

/** What an exporter wrote, and how to load it. */
export interface ExportReport {
  readonly path: string;
  readonly bytes: number;
  readonly tensors: number;
  /** How to load the file, as code to paste. */
  readonly recipe: string;
  /** What the stock model needs changed for this configuration (empty when it loads as is). */
  readonly notes: readonly string[];
}

export type Depth = 18 | 50;

export function depthOf(cfg: MultiSiamConfig): Depth {
  return cfg.backbone.arch === 'resnet50' ? 50 : 18;
}

/** The inference graph (BN on running statistics) for one image; its weight inputs define the key set. */
export function backboneGraph(cfg: MultiSiamConfig): Graph {
  return buildBackbone(cfg, 1);
}

/** The graph's parameters and BN buffers, in declaration order (torchvision's state-dict order). */
export function weightInputs(graph: Graph): GraphInput[] {
  return graph.inputs.filter((i) => i.role === 'param' || i.role === 'buffer');
}

/**
 * Picks one network's backbone out of a bundle's or checkpoint's tensors (the online network under
 * its torchvision names, the target under `target.<name>`); `where` (the file) starts every error.
 */
export function selectBackbone(cfg: MultiSiamConfig, all: TensorMap, provenance: Provenance, where: string): Backbone {
  const tensors = new Map<string, BackboneTensor>();
  for (const { value } of weightInputs(backboneGraph(cfg))) {
    const key = provenance.network === 'online' ? value.name : NAMES.target(value.name);
    const t = all.get(key);
    if (!t || t.dtype !== 'F32') throw new Error(`${where}: tensor '${key}' is ${t ? `${t.dtype}, not F32` : 'missing'}; the file does not hold a ${cfg.backbone.arch} ${provenance.network} network of this configuration`);
    if (t.shape.length !== value.shape.length || t.shape.some((d, i) => d !== value.shape[i])) {
      throw new Error(`${where}: tensor '${key}' has shape [${t.shape}], the configuration's ${cfg.backbone.arch} (width ${cfg.backbone.width}) needs [${value.shape}]`);
    }
    tensors.set(value.name, { shape: value.shape, data: t.data });
  }
  return { config: cfg, tensors, provenance };
}

/** The version in multisiam's package.json (dist/src/export/ → the package root). */
export function multisiamVersion(): string {
  return (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;
}

/** The ImageNet-style preprocessing the network was trained with, as one sentence. */
export function preprocessingText(cfg: MultiSiamConfig): string {
  return `RGB channel order, values in [0, 1], then per channel (x - mean) / std with mean [${cfg.data.mean.join(', ')}] and std [${cfg.data.std.join(', ')}]`;
}

/**
 * What every export records about itself (ONNX metadata_props, safetensors __metadata__): the
 * preprocessing (`preprocessing.*`), the architecture (`backbone.*`) and the provenance (`source.*`,
 * `multisiam.version`).
 */
export function exportMetadata(backbone: Backbone): Record<string, string> {
  const cfg = backbone.config;
  const p = backbone.provenance;
  return {
    preprocessing: preprocessingText(cfg),
    'preprocessing.mean': JSON.stringify(cfg.data.mean),
    'preprocessing.std': JSON.stringify(cfg.data.std),
    'preprocessing.channel_order': 'RGB',
    'preprocessing.input_range': '[0, 1]',
    'preprocessing.layout': 'NCHW',
    'backbone.arch': cfg.backbone.arch,
    'backbone.width': String(cfg.backbone.width),
    'backbone.output_stride': String(cfg.backbone.output_stride),
    source: p.source,
    'source.dir': p.dir,
    'source.step': String(p.step),
    'source.method': p.method,
    'source.network': p.network,
    'source.config_hash': p.configHash,
    'multisiam.version': p.version,
  };
}

/** `round(c·w)` channel counts of the stem and the four stages' outputs (torchvision: 64, 64·e, 128·e, 256·e, 512·e). */
export function channelCounts(cfg: MultiSiamConfig): number[] {
  const expansion = depthOf(cfg) === 50 ? 4 : 1;
  return [scaledChannels(64, cfg.backbone.width), ...[64, 128, 256, 512].map((p) => scaledChannels(p * expansion, cfg.backbone.width))];
}
