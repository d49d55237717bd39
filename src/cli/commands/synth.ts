import type { CommandModule } from 'yargs';
import { writeSyntheticDataset } from '../../data/sources.js';
import { checkOutPath, makeDirs } from '../../train/rundir.js';
import { help, integerFlag, ownHelp, requiredText } from '../flags.js';

interface SynthArgs {
  readonly out?: string;
  readonly count?: string;
  readonly seed?: string;
}

export const synthCommand: CommandModule<object, SynthArgs> = {
  command: 'synth',
  describe: 'Write synthetic street-like scenes as image + class-mask PNGs',
  builder: (y) =>
    ownHelp(y)
      .option('out', { type: 'string', demandOption: true, describe: help('Folder to write NNNNN.png and NNNNN_mask.png into (created if missing)', { required: true }) })
      .option('count', { type: 'string', demandOption: true, describe: help('Number of scenes', { allowed: 'integer ≥ 1', required: true }) })
      .option('seed', { type: 'string', default: '0', describe: help('Scene seed (scene i is the same for the same seed); the scenes of `train --data synthetic:N` use seed 0', { allowed: 'integer in [0, 4294967295]', default: '0' }) })
      .example('$0 synth --out scenes --count 500', '500 scenes with seed 0, as train --data synthetic:500 sees them')
      .example('$0 synth --out held-out --count 100 --seed 7', 'another 100 scenes'),
  handler: async (args) => {
    // Every flag is checked before the folder is created.
    const out = requiredText('out', args.out, 'a folder for the scenes');
    const count = integerFlag('count', args.count, { min: 1 })!;
    const seed = integerFlag('seed', args.seed, { min: 0, max: 2 ** 32 - 1 })!;
    checkOutPath(out);
    makeDirs(out, 'out');
    await writeSyntheticDataset(out, count, seed);
    console.log(`wrote ${count} scenes (image and class-mask PNGs, seed ${seed}) to ${out}`);
  },
};
