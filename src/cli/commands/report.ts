import type { CommandModule } from 'yargs';
import { formatBytes } from '../../bundle/inspect.js';
import { REPORT_FILE, writeReport } from '../../report/report.js';
import { help, integerFlag, ownHelp, textFlag } from '../flags.js';

interface ReportArgs {
  readonly run?: string;
  readonly out?: string;
  readonly samples?: string;
  readonly checkpoints?: string;
  readonly data?: string;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report <run>',
  describe: `Write RUN/${REPORT_FILE}: one self-contained page with the loss curves, schedules, throughput, K-means cluster maps of the target network at several checkpoints and the probe results`,
  builder: (y) =>
    ownHelp(y)
      .positional('run', { type: 'string', demandOption: true, describe: help('Run directory (the --out of `multisiam train`)', { required: true }) })
      .option('out', { type: 'string', describe: help('HTML file to write (replaced atomically)', { default: `RUN/${REPORT_FILE}` }) })
      .option('samples', { type: 'string', describe: help('Sample images in the cluster maps', { allowed: "integer in [1, the run's batch size]", default: '4' }) })
      .option('checkpoints', { type: 'string', describe: help('Columns of the cluster maps: the initial weights and the checkpoints, evenly chosen, the latest always in', { allowed: 'integer ≥ 1', default: '4' }) })
      .option('data', { type: 'string', describe: help("Where the sample images come from: synthetic[:N] or a folder", { default: "the run's data (RUN/data.json)" }) })
      .example('$0 report runs/tiny', 'writes runs/tiny/report.html')
      .example('$0 report runs/tiny --samples 8 --checkpoints 6 --out tiny.html', 'more images and checkpoints, elsewhere'),
  handler: async (args) => {
    // Everything that can be refused is checked before any work.
    const run = textFlag('run', args.run, 'the --out of a `multisiam train` run') ?? '';
    const out = textFlag('out', args.out, 'an HTML file to write');
    const samples = integerFlag('samples', args.samples, { min: 1 });
    const checkpoints = integerFlag('checkpoints', args.checkpoints, { min: 1 });
    const data = textFlag('data', args.data, "synthetic[:N] or a folder of images");
    const report = await writeReport({
      run,
      ...(out !== undefined ? { out } : {}),
      ...(samples !== undefined ? { samples } : {}),
      ...(checkpoints !== undefined ? { checkpoints } : {}),
      ...(data !== undefined ? { data } : {}),
      log: (line) => console.error(`multisiam: ${line}`),
    });
    const maps = report.clusterMaps > 0 ? `${report.clusterMaps} cluster maps` : 'no cluster maps (the method has no dense target)';
    console.log(`wrote ${report.path} (${formatBytes(report.bytes)}): ${report.charts.length} charts, ${maps}, ${report.probes} probe result(s)`);
  },
};
