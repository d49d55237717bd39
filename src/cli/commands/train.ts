import type { CommandModule } from 'yargs';
import { EXECUTION_PROVIDERS, type ExecutionProvider } from '../../runtime/providers.js';
import { configureRun } from '../../train/configure.js';
import { prepareRun } from '../../train/run.js';
import { type TrainSummary, train } from '../../train/trainer.js';
import { CONFIG_EPILOG, help, integerFlag, ownHelp, requiredText, setFlags, textFlag } from '../flags.js';

interface TrainArgs {
  readonly data?: string;
  readonly out?: string;
  readonly preset?: string;
  readonly config?: string;
  readonly bundle?: string;
  readonly set?: string[];
  readonly ep: string;
  readonly steps?: string;
  readonly epochs?: string;
  readonly 'checkpoint-every'?: string;
  readonly seed?: string;
  readonly resume: boolean;
  readonly 'memory-check': boolean;
}

/** The run-length flags as config overrides, checked first so that a bad value is named by its flag. */
function runOverrides(args: TrainArgs): string[] {
  const sets: string[] = [];
  const steps = integerFlag('steps', args.steps, { min: 1 });
  const epochs = integerFlag('epochs', args.epochs, { min: 1 });
  const every = integerFlag('checkpoint-every', args['checkpoint-every'], { min: 0 });
  const seed = integerFlag('seed', args.seed, { min: 0, max: 2 ** 32 - 1 });
  if (steps !== undefined) sets.push(`train.steps=${steps}`);
  if (epochs !== undefined) sets.push(`train.epochs=${epochs}`);
  if (every !== undefined) sets.push(`train.checkpoint_every=${every}`);
  if (seed !== undefined) sets.push(`train.seed=${seed}`);
  return sets;
}

function summaryLine(s: TrainSummary): string {
  const files = `metrics ${s.runDir}/metrics.jsonl; plot ${s.runDir}/loss.svg`;
  if (s.stoppedBy !== null) {
    return s.lastStep > s.firstStep
      ? `stopped by ${s.stoppedBy} at step ${s.lastStep}/${s.totalSteps}; checkpoint ${s.checkpoint}; ${files}. Continue with the same command and --resume`
      : `stopped by ${s.stoppedBy} before a step was done; nothing new to save. Continue with the same command${s.firstStep > 0 ? ' and --resume' : ''}`;
  }
  return (
    `finished at step ${s.lastStep}/${s.totalSteps}; checkpoint ${s.checkpoint}; ${files}. ` +
    `To train longer: the same command with --resume --steps N (N > ${s.lastStep}); from step ${s.lastStep} on, the learning rate and momentum then follow an N-step run's schedules`
  );
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'Pre-train a backbone (MultiSiam, MoCo-based MultiSiam or BYOL) on unlabeled images',
  builder: (y) =>
    ownHelp(y)
      .option('data', { type: 'string', demandOption: true, describe: help('Image folder (searched recursively; jpg, jpeg, png, webp, bmp, tiff), or synthetic[:N] for N built-in street scenes (synthetic alone: 2000)', { required: true }) })
      .option('out', { type: 'string', demandOption: true, describe: help('Run directory: bundle/, checkpoints/, metrics.jsonl, loss.svg, config.json, data.json (created if missing)', { required: true }) })
      .option('preset', { type: 'string', describe: help('Start from a preset', { allowed: 'tiny | r18 | r50' }) })
      .option('config', {
        type: 'string',
        describe: help(
          'YAML or JSON config file. It may name a preset (preset: tiny); without one, the fields it leaves out keep their defaults, the paper\'s ResNet-50 at 224² and batch 256, ' +
            'which need a GPU-sized machine: a run whose estimated memory exceeds this machine\'s is refused before anything is written',
        ),
      })
      .option('bundle', { type: 'string', describe: help('Train a bundle made by `multisiam build`; --set may then change only the schedule (train.steps, optim.base_lr, warm-up, …) and operational fields') })
      .option('set', { type: 'string', array: true, describe: help('Override a config field (repeatable); `multisiam config` lists them', { allowed: 'key=value, e.g. kmeans.k=8' }) })
      .option('ep', { type: 'string', default: 'cpu', choices: EXECUTION_PROVIDERS as string[], describe: help('Execution provider; checked before anything is written; auto takes the first of cuda, webgpu, cpu that loads and says which', { allowed: EXECUTION_PROVIDERS.join(' | '), default: 'cpu' }) })
      .option('steps', { type: 'string', describe: help('Total steps of the run (the schedules span them); with --resume, more than the run had extends it', { allowed: 'integer ≥ 1', default: "the preset's (tiny 1000) or train.epochs" }) })
      .option('epochs', { type: 'string', describe: help('Total epochs of the run: floor(images / batch) steps each', { allowed: 'integer ≥ 1', default: 'train.epochs (200) unless the preset counts in steps' }) })
      .option('checkpoint-every', { type: 'string', describe: help('Steps between checkpoints (0: only by time and at the end); a checkpoint is also written every train.checkpoint_minutes (10) of wall time', { allowed: 'integer ≥ 0', default: "the preset's (tiny 250), else 1000" }) })
      .option('seed', { type: 'string', describe: help('Run seed: data order, augmentations, initial weights, K-means', { allowed: 'integer in [0, 4294967295]', default: '0' }) })
      .option('resume', { type: 'boolean', default: false, describe: help('Continue the run in --out from its latest checkpoint (a run that died before its first checkpoint starts again). --preset/--config/--bundle may be left out: the run\'s own configuration is used', { default: 'false' }) })
      .option('memory-check', { type: 'boolean', default: true, describe: help('Estimate the memory a CPU run needs from its graph shapes and refuse it up front when the machine has less (--no-memory-check skips it)', { default: 'true' }) })
      .conflicts('steps', 'epochs')
      .example('$0 train --data synthetic --preset tiny --steps 500 --out runs/tiny', 'tiny preset on 2000 built-in scenes, on the CPU')
      .example('$0 train --data synthetic --preset tiny --steps 500 --out runs/tiny --resume', 'continue it after Ctrl-C, a kill or a crash')
      .example('$0 train --data synthetic --out runs/tiny --resume --steps 1000', 'extend the finished run to 1000 steps (its configuration is reused)')
      .example('$0 train --data ~/street-images --preset r18 --ep auto --epochs 100 --out runs/r18', 'your own images, on a GPU when one loads')
      .example('$0 train --data images --bundle bundles/tiny --set optim.base_lr=0.5 --steps 300 --out runs/b', 'a prebuilt bundle with another learning rate')
      .epilog(`${CONFIG_EPILOG}\nA crash loses at most the work since the last checkpoint: train.checkpoint_every steps or train.checkpoint_minutes (10) of wall time, whichever comes first. Ctrl-C, SIGTERM, SIGHUP and a closed output finish the step and write a checkpoint.`),
  handler: async (args) => {
    // Every flag is checked here, before anything is read from or written to --out.
    const data = requiredText('data', args.data, "an image folder or 'synthetic[:N]'");
    const out = requiredText('out', args.out, 'a directory for the run');
    const preset = textFlag('preset', args.preset, 'tiny, r18 or r50');
    const configFile = textFlag('config', args.config, 'a .yaml, .yml or .json file');
    const bundle = textFlag('bundle', args.bundle, 'a bundle directory from `multisiam build`');
    const sets = [...setFlags(args.set), ...runOverrides(args)];
    const run = await prepareRun({
      data,
      out,
      config: configureRun({ ...(preset !== undefined ? { preset } : {}), ...(configFile !== undefined ? { configFile } : {}), ...(bundle !== undefined ? { bundle } : {}), sets }),
      ...(bundle !== undefined ? { bundle } : {}),
      resume: args.resume,
      ep: args.ep as ExecutionProvider,
      memoryCheck: args['memory-check'],
    });
    console.log(summaryLine(await train(run)));
  },
};
