/**
 * ResNet-18 / ResNet-50 backbones with torchvision's layout and parameter names (`conv1.weight`,
 * `bn1.running_mean`, `layer1.0.conv1.weight`, `layer2.0.downsample.0.weight`, `fc.weight`, …), so
 * a trained backbone exports to torchvision by name. Built in the caller's current scope.
 *
 * - BasicBlock (ResNet-18) and Bottleneck (ResNet-50, v1.5: the stride sits on the 3×3 conv), as
 *   torchvision 0.14 builds them.
 * - Width multiplier w (SPEC §2.9): every channel count c of the torchvision network (stem 64,
 *   stage widths 64/128/256/512, Bottleneck inner widths and outputs) becomes round(c·w), rounding
 *   halves up, at least 1. ResNet-18 at w = 1/4 has 16/32/64/128 channels.
 * - Output stride 16 = torchvision's `replace_stride_with_dilation=[False, False, True]`: the first
 *   block of layer4 has stride 1 and dilation 1 (its downsample conv has stride 1), later blocks
 *   dilation 2. torchvision's BasicBlock refuses dilation > 1; we follow SPEC §2.9 and give both
 *   3×3 convs of a dilated BasicBlock dilation d and padding d.
 * - Init as torchvision: convolutions kaiming-normal (fan_out, relu): N(0, 2/(out·kh·kw)); BN weight
 *   1, bias 0 (no zero-init of the last BN in each block); fc U(±1/√in) for weight and bias.
 */
import { ShapeError } from '../onnx/errors.js';
import type { Graph, Value } from '../onnx/ir.js';
import { batchNorm } from '../onnx/composite/batchNorm.js';
import { add } from '../onnx/ops/Add.js';
import { conv } from '../onnx/ops/Conv.js';
import { gemm } from '../onnx/ops/Gemm.js';
import { globalAveragePool } from '../onnx/ops/GlobalAveragePool.js';
import { maxPool } from '../onnx/ops/MaxPool.js';
import { relu } from '../onnx/ops/Relu.js';
import { reshape } from '../onnx/ops/Reshape.js';

export type ResNetDepth = 18 | 50;

export interface ResNetOptions {
  readonly depth: ResNetDepth;
  /** Width multiplier (1 = torchvision). */
  readonly width?: number;
  /** 32 (torchvision) or 16 (dilated layer4). */
  readonly outputStride?: 16 | 32;
  /** Batch statistics in BN (and running-statistics updates), or running statistics. */
  readonly training: boolean;
  /** Also return the globally average-pooled feature vector. */
  readonly pooled?: boolean;
  /** Add torchvision's classifier `fc` with this many classes (for the torchvision comparison). */
  readonly classes?: number;
}

export interface ResNetOutputs {
  /** The last-stage map F, (B, C, h, w). */
  readonly features: Value;
  /** Mean of F over its cells, (B, C); when asked for (always when `classes` is set). */
  readonly pooled?: Value;
  /** fc(pooled), (B, classes); when `classes` is set. */
  readonly logits?: Value;
}

export interface StageSpec {
  readonly name: string;
  readonly blocks: number;
  /** Stage width before the width multiplier (torchvision's `planes`). */
  readonly planes: number;
  readonly stride: number;
  /** Replace the stride by dilation (torchvision's replace_stride_with_dilation). */
  readonly dilate: boolean;
}

const BLOCKS: Readonly<Record<ResNetDepth, readonly number[]>> = { 18: [2, 2, 2, 2], 50: [3, 4, 6, 3] };
const EXPANSION: Readonly<Record<ResNetDepth, number>> = { 18: 1, 50: 4 };

/** round(c·w) with halves rounded up, at least 1 channel. */
export function scaledChannels(c: number, width: number): number {
  return Math.max(1, Math.floor(c * width + 0.5));
}

/** Channels of F (and of the pooled vector) for a depth and width. */
export function resnetChannels(depth: ResNetDepth, width = 1): number {
  return scaledChannels(512 * EXPANSION[depth], width);
}

export function resnetStages(depth: ResNetDepth, outputStride: 16 | 32 = 32): StageSpec[] {
  return [64, 128, 256, 512].map((planes, i) => ({
    name: `layer${i + 1}`,
    blocks: BLOCKS[depth][i]!,
    planes,
    stride: i === 0 ? 1 : 2,
    dilate: i === 3 && outputStride === 16,
  }));
}

/** The backbone on an (B, 3, H, W) float32 image batch; see the file comment. */
export function resnet(x: Value, options: ResNetOptions): ResNetOutputs {
  const { depth, training } = options;
  const width = options.width ?? 1;
  const outputStride = options.outputStride ?? 32;
  if (depth !== 18 && depth !== 50) throw new RangeError(`resnet: depth must be 18 or 50, got ${depth}`);
  if (!(width > 0)) throw new RangeError(`resnet: width must be positive, got ${width}`);
  if (outputStride !== 16 && outputStride !== 32) throw new RangeError(`resnet: outputStride must be 16 or 32, got ${outputStride}`);
  if (x.rank !== 4 || x.shape[1] !== 3) throw new ShapeError(`resnet: needs a (B, 3, H, W) image batch, got ${x}`);
  const g = x.graph;
  const ch = (c: number): number => scaledChannels(c, width);
  const expansion = EXPANSION[depth];

  let inplanes = ch(64);
  let h = convBn(g, x, 'conv1', 'bn1', inplanes, 7, { stride: 2, padding: 3, dilation: 1 }, training);
  h = maxPool(relu(h), { kernel: 3, strides: 2, pads: 1 });

  let dilation = 1;
  for (const stage of resnetStages(depth, outputStride)) {
    const previousDilation = dilation;
    let stride = stage.stride;
    if (stage.dilate) {
      dilation *= stride;
      stride = 1;
    }
    const out = ch(stage.planes * expansion);
    const inner = ch(stage.planes);
    h = g.scope(stage.name, () => {
      let y = h;
      for (let b = 0; b < stage.blocks; b++) {
        const first = b === 0;
        const block: BlockSpec = { inplanes, inner, out, stride: first ? stride : 1, dilation: first ? previousDilation : dilation, training };
        y = g.scope(b, () => (depth === 18 ? basicBlock(g, y, block) : bottleneck(g, y, block)));
        inplanes = out;
      }
      return y;
    });
  }

  const features = h;
  if (!options.pooled && options.classes === undefined) return { features };
  const c = features.shape[1]!;
  const pooled = reshape(globalAveragePool(features), [features.shape[0]!, c]);
  if (options.classes === undefined) return { features, pooled };
  const bound = 1 / Math.sqrt(c);
  const logits = g.scope('fc', () => {
    const w = g.param('weight', [options.classes!, c], { kind: 'uniform', bound });
    const b = g.param('bias', [options.classes!], { kind: 'uniform', bound }, 'no_decay');
    return gemm(pooled, w, b, { transB: true });
  });
  return { features, pooled, logits };
}

interface BlockSpec {
  readonly inplanes: number;
  readonly inner: number;
  readonly out: number;
  readonly stride: number;
  readonly dilation: number;
  readonly training: boolean;
}

interface ConvGeometry {
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
}

/** A bias-free conv named `<convName>.weight` followed by BN `<bnName>.*`, in the current scope. */
function convBn(g: Graph, x: Value, convName: string, bnName: string, out: number, k: number, geo: ConvGeometry, training: boolean): Value {
  const y = g.scope(convName, () => {
    const w = g.param('weight', [out, x.shape[1]!, k, k], { kind: 'normal', std: Math.sqrt(2 / (out * k * k)) });
    return conv(x, w, undefined, { strides: geo.stride, pads: geo.padding, dilations: geo.dilation });
  });
  return g.scope(bnName, () => batchNorm(y, { training }));
}

/** torchvision's `downsample`: a 1×1 conv with the block's stride and a BN, when the shape changes. */
function shortcut(g: Graph, x: Value, b: BlockSpec): Value {
  if (b.stride === 1 && b.inplanes === b.out) return x;
  return g.scope('downsample', () => convBn(g, x, '0', '1', b.out, 1, { stride: b.stride, padding: 0, dilation: 1 }, b.training));
}

function basicBlock(g: Graph, x: Value, b: BlockSpec): Value {
  const d = b.dilation;
  let y = relu(convBn(g, x, 'conv1', 'bn1', b.out, 3, { stride: b.stride, padding: d, dilation: d }, b.training));
  y = convBn(g, y, 'conv2', 'bn2', b.out, 3, { stride: 1, padding: d, dilation: d }, b.training);
  return relu(add(y, shortcut(g, x, b)));
}

function bottleneck(g: Graph, x: Value, b: BlockSpec): Value {
  const d = b.dilation;
  let y = relu(convBn(g, x, 'conv1', 'bn1', b.inner, 1, { stride: 1, padding: 0, dilation: 1 }, b.training));
  y = relu(convBn(g, y, 'conv2', 'bn2', b.inner, 3, { stride: b.stride, padding: d, dilation: d }, b.training));
  y = convBn(g, y, 'conv3', 'bn3', b.out, 1, { stride: 1, padding: 0, dilation: 1 }, b.training);
  return relu(add(y, shortcut(g, x, b)));
}
