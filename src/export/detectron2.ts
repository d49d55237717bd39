/**
 * The backbone as a detectron2 weights file: a `.pkl` (pickle protocol 2) of
 * `{"model": {name: numpy.float32 ndarray}, "__author__": "multisiam", "matching_heuristics": True}`
 * with detectron2's ResNet names, by the rename every SSL converter uses (MoCo's
 * convert-pretrain-to-detectron2.py, DenseCL, PixPro, detectron2's convert-torchvision-to-d2.py):
 * a key without "layer" gets the prefix `stem.`; `layer{t}` → `res{t+1}`; `bn{t}` → `conv{t}.norm`;
 * `downsample.0` → `shortcut`; `downsample.1` → `shortcut.norm`. There is no num_batches_tracked
 * and no fc to drop: the backbone has neither.
 *
 * detectron2 reads a `.pkl` with `pickle.load(f, encoding="latin1")` and takes a dict with "model"
 * and "__author__" as is; "matching_heuristics" lets it match `res2.0.conv1.weight` to
 * `backbone.bottom_up.res2.0.conv1.weight` (FPN) or `backbone.res2…` / `roi_heads.res5…` (C4).
 * Arrays are pickled as numpy pickles them at protocol 2 (`numpy.core.multiarray._reconstruct` +
 * BUILD), which numpy 1.x and 2.x both load.
 *
 * The config the weights need (RGB input, ImageNet mean and std in 0–255 units, torchvision's
 * stride on the 3×3 conv), plus what SSL detection benchmarks set — `detectron2Config` writes it:
 *
 *     MODEL:
 *       WEIGHTS: "r50.pkl"
 *       PIXEL_MEAN: [123.675, 116.280, 103.530]
 *       PIXEL_STD: [58.395, 57.120, 57.375]
 *       BACKBONE: { FREEZE_AT: 0 }
 *       RESNETS: { DEPTH: 50, STRIDE_IN_1X1: False, NORM: "SyncBN" }   # R18: DEPTH 18, RES2_OUT_CHANNELS 64
 *       FPN: { NORM: "SyncBN" }
 *     INPUT: { FORMAT: "RGB" }
 *     TEST: { PRECISE_BN: { ENABLED: True } }
 */
import { basename } from 'node:path';
import type { MultiSiamConfig } from '../config/index.js';
import { scaledChannels } from '../graphs/resnet.js';
import { type Backbone, type ExportReport, channelCounts, depthOf } from './backbone.js';
import { checkOut, writeAtomically } from './files.js';
import { Build, Dict, Global, type PickleValue, Reduce, Tuple, pickle } from './pickle.js';

/** detectron2's name for a torchvision backbone key (see the file comment). */
export function detectron2Name(torchvision: string): string {
  let k = torchvision.includes('layer') ? torchvision : `stem.${torchvision}`;
  k = k.replace(/layer(\d)/, (_, t: string) => `res${Number(t) + 1}`);
  k = k.replace(/bn(\d)/, 'conv$1.norm');
  return k.replace('downsample.0', 'shortcut').replace('downsample.1', 'shortcut.norm');
}

/** numpy.dtype('<f4') as numpy pickles it. */
const FLOAT32 = new Build(new Reduce(new Global('numpy', 'dtype'), new Tuple(['f4', false, true])), new Tuple([3, '<', null, null, null, -1, -1, 0]));

/** A C-contiguous float32 ndarray as numpy pickles it: `_reconstruct(ndarray, (0,), b'b')` then BUILD with its state. */
function ndarray(shape: readonly number[], data: Float32Array): PickleValue {
  const empty = new Reduce(new Global('numpy.core.multiarray', '_reconstruct'), new Tuple([new Global('numpy', 'ndarray'), new Tuple([0]), Buffer.from('b')]));
  return new Build(empty, new Tuple([1, new Tuple(shape), FLOAT32, false, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)]));
}

/** The pickle bytes of the detectron2 weights file. */
export function detectron2Pickle(backbone: Backbone): Buffer {
  const model = new Map<string, PickleValue>();
  for (const [name, t] of backbone.tensors) model.set(detectron2Name(name), ndarray(t.shape, t.data));
  return pickle(new Dict(new Map<string, PickleValue>([['model', new Dict(model)], ['__author__', 'multisiam'], ['matching_heuristics', true]])));
}

/** Refuses an --out detectron2 would not read as this pickle. */
export function checkDetectron2Out(out: string): void {
  checkOut(out, ['.pkl'], 'detectron2 unpickles only .pkl files and reads other names with torch.load');
}

/** Writes `out` (which must end in .pkl) atomically. */
export function exportDetectron2(backbone: Backbone, out: string): ExportReport {
  checkDetectron2Out(out);
  const bytes = writeAtomically(out, [detectron2Pickle(backbone)]);
  return { path: out, bytes, tensors: backbone.tensors.size, recipe: detectron2Config(backbone.config, out), notes: detectron2Notes(backbone.config) };
}

/** The detectron2 config lines these weights need (see the file comment). */
export function detectron2Config(cfg: MultiSiamConfig, out: string): string {
  const units = (v: readonly number[]): string => `[${v.map((x) => (x * 255).toFixed(3)).join(', ')}]`;
  const depth = depthOf(cfg);
  return [
    'MODEL:',
    `  WEIGHTS: ${JSON.stringify(basename(out))}`,
    `  PIXEL_MEAN: ${units(cfg.data.mean)}  # RGB, 0-255`,
    `  PIXEL_STD: ${units(cfg.data.std)}`,
    '  BACKBONE:',
    '    FREEZE_AT: 0  # SSL benchmarks fine-tune every stage',
    '  RESNETS:',
    `    DEPTH: ${depth}`,
    ...(depth === 18 ? ['    RES2_OUT_CHANNELS: 64'] : []),
    '    STRIDE_IN_1X1: False  # torchvision layout: the stride is on the 3x3 conv',
    '    NORM: "SyncBN"  # what SSL benchmarks use (MoCo C4: naiveSyncBN)',
    '  FPN:',
    '    NORM: "SyncBN"',
    'INPUT:',
    '  FORMAT: "RGB"',
    'TEST:',
    '  PRECISE_BN:',
    '    ENABLED: True',
  ].join('\n');
}

/** What detectron2's stock ResNet needs for this configuration; empty when the config above is enough. */
export function detectron2Notes(cfg: MultiSiamConfig): string[] {
  const depth = depthOf(cfg);
  const [stem, res2, ...later] = channelCounts(cfg);
  const notes: string[] = [];
  if (depth === 18 && (cfg.backbone.width !== 1 || cfg.backbone.output_stride === 16)) {
    notes.push(
      `R18 at width ${cfg.backbone.width}, output stride ${cfg.backbone.output_stride}: detectron2's build_resnet_backbone requires RES2_OUT_CHANNELS 64 and RES5_DILATION 1 for R18, and its BasicBlock has no dilation; ` +
        `register a backbone with channels ${channelCounts(cfg).join('/')} (stem/res2–5)${cfg.backbone.output_stride === 16 ? ', res5 at stride 1 with dilation 2 in res5.1' : ''}; the weight names stay the same`,
    );
    return notes;
  }
  if (cfg.backbone.width !== 1) {
    const inner = [64, 128, 256, 512].map((p) => scaledChannels(p, cfg.backbone.width));
    const doubling = later.every((c, i) => c === res2! * 2 ** (i + 1)) && inner.every((c, i) => c === inner[0]! * 2 ** i);
    notes.push(
      doubling
        ? `width ${cfg.backbone.width}: set MODEL.RESNETS.STEM_OUT_CHANNELS ${stem}, RES2_OUT_CHANNELS ${res2}, WIDTH_PER_GROUP ${inner[0]}`
        : `width ${cfg.backbone.width}: the channel counts ${channelCounts(cfg).join('/')} (inner ${inner.join('/')}) do not double stage to stage as detectron2's RESNETS config assumes; register a backbone with these widths (the weight names stay the same)`,
    );
  }
  if (cfg.backbone.output_stride === 16) {
    notes.push(
      'output stride 16: set MODEL.RESNETS.RES5_DILATION 2; detectron2 then dilates res5.0 conv2 as well, where torchvision and multisiam keep dilation 1 (the weights load, the features differ slightly)',
    );
  }
  return notes;
}
