import type { CommandModule } from 'yargs';
import { readBundle } from '../../bundle/bundle.js';
import type { MultiSiamConfig } from '../../config/schema.js';
import { resolveConfig } from '../../methods/index.js';
import { EXECUTION_PROVIDERS, type ExecutionProvider } from '../../runtime/providers.js';
import { prepareRun } from '../../train/run.js';
import { train } from '../../train/trainer.js';

interface TrainArgs {
  readonly data: string;
  readonly out: string;
  readonly preset?: string;
  readonly config?: string;
  readonly bundle?: string;
  readonly set?: string[];
  readonly ep: string;
  readonly steps?: number;
  readonly epochs?: number;
  readonly 'checkpoint-every'?: number;
  readonly seed?: number;
  readonly resume: boolean;
}

/** The run-length flags as config overrides; the only ones a prebuilt bundle accepts. */
function runOverrides(args: TrainArgs): string[] {
  const sets: string[] = [];
  if (args.steps !== undefined) sets.push(`train.steps=${args.steps}`);
  if (args.epochs !== undefined) sets.push(`train.epochs=${args.epochs}`);
  if (args['checkpoint-every'] !== undefined) sets.push(`train.checkpoint_every=${args['checkpoint-every']}`);
  if (args.seed !== undefined) sets.push(`train.seed=${args.seed}`);
  return sets;
}

function runConfig(args: TrainArgs): MultiSiamConfig {
  if (args.bundle) {
    if (args.preset || args.config || (args.set ?? []).length > 0) {
      throw new Error('--bundle fixes the configuration its graphs were built with: drop --preset/--config/--set, or build a new bundle with `multisiam build`');
    }
    const base = readBundle(args.bundle).manifest.config;
    return resolveConfig({ base: { config: base, label: `in bundle '${args.bundle}'` }, sets: runOverrides(args) });
  }
  if (!args.preset && !args.config) throw new Error('choose a configuration: --preset tiny|r18|r50, --config FILE, or --bundle DIR');
  return resolveConfig({
    ...(args.preset ? { preset: args.preset } : {}),
    ...(args.config ? { configFile: args.config } : {}),
    sets: [...(args.set ?? []), ...runOverrides(args)],
  });
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'Pre-train a backbone (MultiSiam, MoCo-based MultiSiam or BYOL) on unlabeled images',
  builder: (y) =>
    y
      .option('data', { type: 'string', demandOption: true, describe: 'Image folder (searched recursively), or synthetic[:N] for built-in street scenes' })
      .option('out', { type: 'string', demandOption: true, describe: 'Run directory: bundle, checkpoints, metrics.jsonl, loss.svg' })
      .option('preset', { type: 'string', describe: 'tiny | r18 | r50' })
      .option('config', { type: 'string', describe: 'YAML or JSON config file' })
      .option('bundle', { type: 'string', describe: 'Train a bundle made by `multisiam build`' })
      .option('set', { type: 'string', array: true, describe: 'Override a config field, e.g. --set kmeans.k=8 (repeatable)' })
      .option('ep', { type: 'string', default: 'cpu', choices: EXECUTION_PROVIDERS as string[], describe: 'Execution provider' })
      .option('steps', { type: 'number', describe: 'Total steps of the run (the schedules span them)' })
      .option('epochs', { type: 'number', describe: 'Total epochs of the run (for folders and synthetic:N)' })
      .option('checkpoint-every', { type: 'number', describe: 'Steps between checkpoints' })
      .option('seed', { type: 'number', describe: 'Run seed (data order, augmentations, initial weights, K-means)' })
      .option('resume', { type: 'boolean', default: false, describe: 'Continue from the latest checkpoint in --out' })
      .conflicts('steps', 'epochs'),
  handler: async (args) => {
    const run = await prepareRun({
      data: args.data,
      out: args.out,
      config: runConfig(args),
      ...(args.bundle ? { bundle: args.bundle } : {}),
      resume: args.resume,
    });
    const summary = await train(run, { ep: args.ep as ExecutionProvider });
    const state = summary.interrupted ? 'interrupted' : summary.lastStep >= summary.totalSteps ? 'finished' : 'stopped';
    console.log(`${state} at step ${summary.lastStep}/${summary.totalSteps}; checkpoint ${summary.checkpoint ?? 'none'}; metrics ${summary.runDir}/metrics.jsonl; plot ${summary.runDir}/loss.svg`);
  },
};
