import type { CommandModule } from 'yargs';
import { checkCudaProvider, cudaProviderReady, formatCudaReport, installCudaProvider } from '../../runtime/cuda-provider.js';

interface SetupArgs {
  readonly what: 'cuda';
  readonly check: boolean;
  readonly from?: string;
}

export const setupCommand: CommandModule<object, SetupArgs> = {
  command: 'setup <what>',
  describe: "Install an execution provider's files: `setup cuda` puts ONNX Runtime 1.29.0's CUDA 13 provider into onnxruntime-node",
  builder: (y) =>
    y
      .positional('what', { choices: ['cuda'] as const, demandOption: true, describe: 'What to set up' })
      .option('check', { type: 'boolean', default: false, describe: 'Only report what is installed and which NVIDIA libraries are found; change nothing (exit status 1 if not ready)' })
      .option('from', { type: 'string', describe: 'The provider package as a .tgz or unpacked folder, instead of downloading it with npm pack' }),
  handler: (args) => {
    const report = args.check ? checkCudaProvider() : installCudaProvider({ ...(args.from ? { from: args.from } : {}), log: (line) => console.log(line) });
    for (const line of formatCudaReport(report)) console.log(line);
    if (args.check && !cudaProviderReady(report)) process.exitCode = 1;
  },
};
