import type { CommandModule } from 'yargs';
import { formatBytes } from '../../bundle/inspect.js';
import { NETWORKS, type Network } from '../../export/backbone.js';
import { EXPORT_FORMATS, type ExportFormat, checkExportOut, exportBackbone } from '../../export/index.js';
import { loadBackbone } from '../../export/source.js';

interface ExportArgs {
  readonly run?: string;
  readonly step?: number;
  readonly bundle?: string;
  readonly format: string;
  readonly out: string;
  readonly network: string;
}

export const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export',
  describe: 'Write the trained backbone as an ONNX model, a torchvision state dict (.pth/.safetensors) or detectron2 weights (.pkl)',
  builder: (y) =>
    y
      .option('run', { type: 'string', describe: 'Run directory (from `multisiam train`): exports its latest complete checkpoint' })
      .option('step', { type: 'number', describe: 'With --run: the checkpoint of this step' })
      .option('bundle', { type: 'string', describe: "Bundle directory (from `multisiam build`): exports its initial weights" })
      .option('format', { type: 'string', demandOption: true, choices: EXPORT_FORMATS as unknown as string[], describe: 'onnx | torchvision (.pth or .safetensors, by --out) | detectron2 (.pkl)' })
      .option('out', { type: 'string', demandOption: true, describe: 'File to write (replaced atomically)' })
      .option('network', { type: 'string', default: 'online', choices: NETWORKS as unknown as string[], describe: 'online (the trained encoder) or target (its EMA)' })
      .example('$0 export --run runs/tiny --format onnx --out tiny.onnx', '')
      .example('$0 export --run runs/r50 --step 10000 --format torchvision --out r50.pth', '')
      .example('$0 export --run runs/r50 --format detectron2 --network target --out r50-ema.pkl', ''),
  handler: (args) => {
    const format = args.format as ExportFormat;
    // Everything that can be refused is checked before anything is written.
    checkExportOut(format, args.out);
    const backbone = loadBackbone({
      ...(args.run !== undefined ? { run: args.run } : {}),
      ...(args.step !== undefined ? { step: args.step } : {}),
      ...(args.bundle !== undefined ? { bundle: args.bundle } : {}),
      network: args.network as Network,
    });
    const report = exportBackbone(backbone, format, args.out);
    const p = backbone.provenance;
    console.log(`wrote ${report.path} (${formatBytes(report.bytes)}): ${report.tensors} tensors of the ${p.network} ${backbone.config.backbone.arch} backbone, step ${p.step} of ${p.source} ${p.dir}`);
    console.log('load it:');
    for (const line of report.recipe.split('\n')) console.log(`  ${line}`);
    for (const note of report.notes) console.log(`note: ${note}`);
  },
};
