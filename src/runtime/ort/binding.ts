/**
 * One run through IO binding: bind every input and output, RunWithBinding on a worker thread,
 * collect the output values. A binding serves exactly one run and is released after it, so each
 * run in flight has its own binding (and outputs are re-bound before every run: a binding reused
 * without that lets ORT write an output into the buffer now bound as an input).
 */
import { type IoBindingHandle, type MemoryInfoHandle, type SessionHandle, type ValueHandle, ortApi } from './api.js';

export class Binding {
  private readonly handle: IoBindingHandle;
  private released = false;

  constructor(private readonly session: SessionHandle) {
    this.handle = ortApi().createIoBinding(session);
  }

  /** Binds an input. ORT keeps its own reference, and copies a host value to the device here if the model wants it there. */
  input(name: string, value: ValueHandle): void {
    ortApi().bindInput(this.handle, name, value);
  }
  /** Binds an output to memory that ORT allocates during the run. */
  outputTo(name: string, memory: MemoryInfoHandle): void {
    ortApi().bindOutputToDevice(this.handle, name, memory);
  }
  /** Binds an output to an existing tensor, which the run overwrites in place. */
  outputInto(name: string, value: ValueHandle): void {
    ortApi().bindOutput(this.handle, name, value);
  }

  /** Runs the session; `config` goes into the run options (e.g. gpu_graph_id). */
  async run(config: Readonly<Record<string, string>>): Promise<void> {
    const api = ortApi();
    const options = api.createRunOptions();
    try {
      for (const [key, value] of Object.entries(config)) api.addRunConfigEntry(options, key, value);
      await api.runWithBinding(this.session, options, this.handle);
    } finally {
      api.releaseRunOptions(options);
    }
  }

  /** The outputs in binding order; the caller owns each value. */
  outputs(): ValueHandle[] {
    return ortApi().boundOutputValues(this.handle);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    ortApi().releaseIoBinding(this.handle);
  }
}
