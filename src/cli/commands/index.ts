// One line per command; main.ts registers them in this order.
import type { Argv } from 'yargs';
import { benchCommand } from './bench.js';
import { buildCommand } from './build.js';
import { configCommand } from './config.js';
import { evalCommand } from './eval.js';
import { exportCommand } from './export.js';
import { inspectCommand } from './inspect.js';
import { reportCommand } from './report.js';
import { setupCommand } from './setup.js';
import { synthCommand } from './synth.js';
import { trainCommand } from './train.js';

export const COMMANDS: readonly ((cli: Argv) => Argv)[] = [
  (cli) => cli.command(trainCommand),
  (cli) => cli.command(buildCommand),
  (cli) => cli.command(benchCommand),
  (cli) => cli.command(inspectCommand),
  (cli) => cli.command(configCommand),
  (cli) => cli.command(synthCommand),
  (cli) => cli.command(setupCommand),
  (cli) => cli.command(exportCommand),
  (cli) => cli.command(evalCommand),
  (cli) => cli.command(reportCommand),
];
