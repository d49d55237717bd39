/** The export formats (`multisiam export --format`): each checks its --out first, then writes atomically. */
import type { Backbone, ExportReport } from './backbone.js';
import { checkDetectron2Out, exportDetectron2 } from './detectron2.js';
import { checkOnnxOut, exportOnnx } from './onnx.js';
import { checkTorchvisionOut, exportTorchvision } from './torchvision.js';

export const EXPORT_FORMATS = ['onnx', 'torchvision', 'detectron2'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

const EXPORTERS: Readonly<Record<ExportFormat, { readonly check: (out: string) => void; readonly write: (backbone: Backbone, out: string) => ExportReport }>> = {
  onnx: { check: checkOnnxOut, write: exportOnnx },
  torchvision: { check: checkTorchvisionOut, write: exportTorchvision },
  detectron2: { check: checkDetectron2Out, write: exportDetectron2 },
};

/** Refuses an --out the format cannot write (wrong extension, a directory), before anything is read. */
export function checkExportOut(format: ExportFormat, out: string): void {
  EXPORTERS[format].check(out);
}

export function exportBackbone(backbone: Backbone, format: ExportFormat, out: string): ExportReport {
  return EXPORTERS[format].write(backbone, out);
}
