#!/usr/bin/env node
/**
 * The `multisiam` command line. Each command lives in commands/<name>.ts and is listed once below.
 * Errors end the process with status 1 and one clear line (the stack only with MULTISIAM_DEBUG=1).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { COMMANDS } from './commands/index.js';

async function main(argv: string[]): Promise<void> {
  let cli = yargs(argv)
    .scriptName('multisiam')
    .usage('$0 <command> [options]\n\nSelf-supervised pre-training of image backbones with MultiSiam (ICCV 2021) and its baselines.')
    .strict()
    .demandCommand(1, 'Choose a command; `multisiam --help` lists them.')
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((message, error) => {
      throw error ?? new Error(message);
    });
  for (const register of COMMANDS) cli = register(cli);
  await cli.parseAsync();
}

main(hideBin(process.argv)).catch((error: unknown) => {
  const e = error instanceof Error ? error : new Error(String(error));
  console.error(`multisiam: ${e.message}`);
  if (process.env.MULTISIAM_DEBUG === '1' && e.stack) console.error(e.stack);
  process.exitCode = 1;
});
