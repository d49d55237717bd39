import type { CommandModule } from 'yargs';
import { formatBytes } from '../../bundle/inspect.js';
import { NETWORKS, type Network } from '../../export/backbone.js';
import { EXPORT_FORMATS, type ExportFormat, checkExportOut, exportBackbone } from '../../export/index.js';
import { loadBackbone } from '../../export/source.js';
import { help, integerFlag, ownHelp, requiredText, textFlag } from '../flags.js';

interface ExportArgs {
  readonly run?: string;
  readonly step?: string;
  readonly bundle?: string;
  readonly format: string;
  readonly out?: string;
  readonly network: string;
}

export const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export',
  describe: 'Write the trained backbone as an ONNX model, a torchvision state dict (.pth/.safetensors) or detectron2 weights (.pkl)',
  builder: (y) =>
    ownHelp(y)
      .option('run', { type: 'string', describe: help('Run directory (from `multisiam train`): exports its latest complete checkpoint') })
      .option('step', { type: 'string', describe: help('With --run: the checkpoint of this step', { allowed: 'integer ≥ 0', default: 'the latest' }) })
      .option('bundle', { type: 'string', describe: help("Bundle directory (from `multisiam build`): exports its initial weights") })
      .option('format', { type: 'string', demandOption: true, choices: EXPORT_FORMATS as unknown as string[], describe: help('onnx | torchvision (.pth or .safetensors, by --out) | detectron2 (.pkl)', { allowed: EXPORT_FORMATS.join(' | '), required: true }) })
      .option('out', { type: 'string', demandOption: true, describe: help('File to write (replaced atomically)', { required: true }) })
      .option('network', { type: 'string', default: 'online', choices: NETWORKS as unknown as string[], describe: help('online (the trained encoder) or target (its EMA)', { allowed: NETWORKS.join(' | '), default: 'online' }) })
      .example('$0 export --run runs/tiny --format onnx --out tiny.onnx', 'the latest checkpoint as a self-contained ONNX backbone')
      .example('$0 export --run runs/r50 --step 10000 --format torchvision --out r50.pth', 'one checkpoint as a torchvision state dict')
      .example('$0 export --run runs/r50 --format detectron2 --network target --out r50-ema.pkl', 'the EMA network for detectron2'),
  handler: (args) => {
    const format = args.format as ExportFormat;
    // Everything that can be refused is checked before anything is written.
    const out = requiredText('out', args.out, 'the file to write');
    const run = textFlag('run', args.run, 'the --out of a `multisiam train` run');
    const bundle = textFlag('bundle', args.bundle, 'a bundle directory from `multisiam build`');
    const step = integerFlag('step', args.step, { min: 0 });
    checkExportOut(format, out);
    const backbone = loadBackbone({
      ...(run !== undefined ? { run } : {}),
      ...(step !== undefined ? { step } : {}),
      ...(bundle !== undefined ? { bundle } : {}),
      network: args.network as Network,
    });
    const report = exportBackbone(backbone, format, out);
    const p = backbone.provenance;
    console.log(`wrote ${report.path} (${formatBytes(report.bytes)}): ${report.tensors} tensors of the ${p.network} ${backbone.config.backbone.arch} backbone, step ${p.step} of ${p.source} ${p.dir}`);
    console.log('load it:');
    for (const line of report.recipe.split('\n')) console.log(`  ${line}`);
    for (const note of report.notes) console.log(`note: ${note}`);
  },
};
