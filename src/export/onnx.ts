/**
 * The backbone as a self-contained ONNX inference model: the training bundle's backbone graph
 * (src/graphs/bundle.ts, BN on running statistics) with the weights baked in as initializers, and
 * batch, height and width symbolic — the ResNet has no shape-dependent reshapes, so one model runs
 * at any image size.
 *
 *   image    (batch, 3, height, width) float32, RGB in [0, 1] normalised by the metadata's mean/std
 *   features (batch, C, h, w): the last-stage map
 *   pooled   (batch, C): its mean over cells
 *
 * BN is the training graph's inference arithmetic on initializers (scale = weight/√(var + ε),
 * shift = bias − mean·scale, then Mul and Add), not folded into the convolutions here: the export
 * then equals the training graph op for op, and ONNX Runtime constant-folds that arithmetic when it
 * loads the model.
 *
 * metadata_props hold the preprocessing (`preprocessing.*`) and the provenance (`source.*`,
 * `backbone.*`, `multisiam.version`); onnxruntime shows them as `get_modelmeta().custom_metadata_map`.
 */
import { basename } from 'node:path';
import { writeModel } from '../onnx/serialize.js';
import { type Backbone, type ExportReport, backboneGraph, exportMetadata, preprocessingText, weightInputs } from './backbone.js';
import { checkOut, writeAtomically } from './files.js';

/** The dimension names of the model's inputs and outputs. */
const DYNAMIC_AXES = {
  image: { 0: 'batch', 2: 'height', 3: 'width' },
  features: { 0: 'batch', 2: 'h', 3: 'w' },
  pooled: { 0: 'batch' },
} as const;

/** The ONNX model bytes (see the file comment). */
export function backboneOnnx(backbone: Backbone): Uint8Array {
  const cfg = backbone.config;
  const graph = backboneGraph(cfg);
  const initializers = new Map(
    weightInputs(graph).map(({ value }) => {
      const t = backbone.tensors.get(value.name);
      if (!t) throw new Error(`ONNX export: the backbone has no tensor '${value.name}', which ${cfg.backbone.arch} at width ${cfg.backbone.width} needs`);
      return [value.name, t.data] as const;
    }),
  );
  const p = backbone.provenance;
  return writeModel(graph, {
    initializers,
    dynamicAxes: DYNAMIC_AXES,
    docString: `multisiam ${cfg.backbone.arch} backbone (${p.method}, ${p.network} network, step ${p.step}): image (batch, 3, height, width) → features (batch, C, h, w), pooled (batch, C)`,
    metadata: exportMetadata(backbone),
  }).model;
}

/** Refuses an --out that is not an .onnx file. */
export function checkOnnxOut(out: string): void {
  checkOut(out, ['.onnx'], 'the ONNX model');
}

/** Writes `out` (.onnx) atomically. */
export function exportOnnx(backbone: Backbone, out: string): ExportReport {
  checkOnnxOut(out);
  const bytes = writeAtomically(out, [backboneOnnx(backbone)]);
  const recipe = [
    'import numpy as np, onnxruntime as ort',
    `s = ort.InferenceSession(${JSON.stringify(basename(out))})`,
    `# image: float32 (N, 3, H, W), any N, H, W; ${preprocessingText(backbone.config)}`,
    '# (also in s.get_modelmeta().custom_metadata_map)',
    'features, pooled = s.run(["features", "pooled"], {"image": image})',
  ].join('\n');
  return { path: out, bytes, tensors: backbone.tensors.size, recipe, notes: [] };
}
