import type { CommandModule } from 'yargs';
import { formatInspection, inspectBundle } from '../../bundle/inspect.js';

interface InspectArgs {
  readonly dir: string;
  readonly json: boolean;
}

export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <dir>',
  describe: 'Summarise a bundle: config, parameter counts, FLOPs per step, graph inputs and outputs by role',
  builder: (y) =>
    y
      .positional('dir', { type: 'string', demandOption: true, describe: 'Bundle directory (from `multisiam build`)' })
      .option('json', { type: 'boolean', default: false, describe: 'Print the same summary as JSON' })
      .example('$0 inspect bundles/tiny', '')
      .example('$0 inspect bundles/tiny --json', ''),
  handler: (args) => {
    const inspection = inspectBundle(args.dir);
    console.log(args.json ? JSON.stringify(inspection, null, 2) : formatInspection(inspection));
  },
};
