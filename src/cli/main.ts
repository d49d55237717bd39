#!/usr/bin/env node
/**
 * The `multisiam` command line. Each command lives in commands/<name>.ts and is listed once in
 * commands/index.ts. Errors end the process with status 1 and one clear line (the stack only with
 * MULTISIAM_DEBUG=1).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { COMMANDS } from './commands/index.js';
import { guardOutputs } from '../train/stops.js';
import { CONFIG_EPILOG } from './flags.js';

async function main(argv: string[]): Promise<void> {
  let cli = yargs(argv)
    .scriptName('multisiam')
    .usage('$0 <command> [options]\n\nSelf-supervised pre-training of image backbones with MultiSiam (ICCV 2021) and its baselines.')
    .strict()
    .demandCommand(1, 'Choose a command; `multisiam --help` lists them.')
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .epilog(`${CONFIG_EPILOG}\n\`multisiam <command> --help\` shows each command's flags, defaults and examples.`)
    .fail((message, error) => {
      throw error ?? new Error(message);
    });
  for (const register of COMMANDS) cli = register(cli);
  await cli.parseAsync();
}

/**
 * Once the command is over, the process must end on its own. Anything a failed command left running
 * (a worker thread, a session) would keep it alive with no output; this timer, unref'd so that it
 * never keeps the process alive itself, ends it then with the status already set.
 */
function exitWhenDone(): void {
  setTimeout(() => {
    if (process.env.MULTISIAM_DEBUG === '1') console.error('multisiam: internal: something kept the process alive after the command ended');
    process.exit();
  }, 2000).unref();
}

guardOutputs();
main(hideBin(process.argv))
  .catch((error: unknown) => {
    const e = error instanceof Error ? error : new Error(String(error));
    console.error(`multisiam: ${e.message}`);
    if (process.env.MULTISIAM_DEBUG === '1' && e.stack) console.error(e.stack);
    process.exitCode = 1;
  })
  .finally(exitWhenDone);
