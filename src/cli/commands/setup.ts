import type { CommandModule } from 'yargs';
import { checkCudaProvider, cudaProviderReady, formatCudaReport, installCudaProvider } from '../../runtime/cuda-provider.js';
import { help, ownHelp, textFlag } from '../flags.js';

interface SetupArgs {
  readonly what: 'cuda';
  readonly check: boolean;
  readonly from?: string;
}

export const setupCommand: CommandModule<object, SetupArgs> = {
  command: 'setup <what>',
  describe: "Install an execution provider's files: `setup cuda` puts ONNX Runtime 1.29.0's CUDA 13 provider into onnxruntime-node",
  builder: (y) =>
    ownHelp(y)
      .positional('what', { choices: ['cuda'] as const, demandOption: true, describe: help('What to set up', { allowed: 'cuda', required: true }) })
      .option('check', { type: 'boolean', default: false, describe: help('Only report what is installed and which NVIDIA libraries are found; change nothing (exit status 1 if not ready)', { default: 'false' }) })
      .option('from', { type: 'string', describe: help('The provider package as a .tgz or unpacked folder, instead of downloading it with npm pack', { default: 'npm pack from the registry' }) })
      .example('$0 setup cuda', 'download and install the CUDA provider')
      .example('$0 setup cuda --check', 'report only')
      .example('$0 setup cuda --from provider.tgz', 'install from a package fetched elsewhere'),
  handler: (args) => {
    const from = textFlag('from', args.from, 'a .tgz of the provider package or its unpacked folder');
    if (args.check && from !== undefined) throw new Error('--check only reports and installs nothing: drop --from, or drop --check to install from it');
    const report = args.check ? checkCudaProvider() : installCudaProvider({ ...(from !== undefined ? { from } : {}), log: (line) => console.log(line) });
    for (const line of formatCudaReport(report)) console.log(line);
    if (args.check && !cudaProviderReady(report)) process.exitCode = 1;
  },
};
