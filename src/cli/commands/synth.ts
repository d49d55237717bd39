import type { CommandModule } from 'yargs';
import { writeSyntheticDataset } from '../../data/sources.js';

interface SynthArgs {
  readonly out: string;
  readonly count: number;
  readonly seed: number;
}

export const synthCommand: CommandModule<object, SynthArgs> = {
  command: 'synth',
  describe: 'Write synthetic street-like scenes as image + class-mask PNGs',
  builder: (y) =>
    y
      .option('out', { type: 'string', demandOption: true, describe: 'Folder to write NNNNN.png and NNNNN_mask.png into' })
      .option('count', { type: 'number', demandOption: true, describe: 'Number of scenes' })
      .option('seed', { type: 'number', default: 0, describe: 'Scene seed (scene i is the same for the same seed)' }),
  handler: async (args) => {
    if (!Number.isInteger(args.count) || args.count < 1) throw new Error(`--count ${args.count}: must be a positive integer`);
    await writeSyntheticDataset(args.out, args.count, args.seed);
    console.log(`wrote ${args.count} scenes (image and class-mask PNGs, seed ${args.seed}) to ${args.out}`);
  },
};
