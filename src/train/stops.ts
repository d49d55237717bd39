/**
 * Requests to stop a run, all handled as Ctrl-C is: finish the step, write a checkpoint, exit.
 * - SIGINT (Ctrl-C), SIGTERM (kill, schedulers, container stops) and SIGHUP (the terminal closed);
 *   a second signal quits at once.
 * - A closed output: `train … | head -1` or a terminal that went away. Node ignores SIGPIPE, so the
 *   next write to stdout or stderr fails with EPIPE (EIO on a vanished terminal) as an 'error' event
 *   that would otherwise crash the process with no checkpoint. Those errors are swallowed for the
 *   rest of the process's life (nothing more can be shown anyway) and count as a stop request.
 */

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

const CLOSED_OUTPUT = new Set(['EPIPE', 'EIO', 'ECONNRESET']);
const subscribers = new Set<(why: string) => void>();
let closedOutput: string | null = null;
let guarded = false;

/**
 * Installs, once per process, the handlers that turn a closed stdout or stderr into a stop request
 * (the CLI calls it at start, so a command that is not training also outlives a closed pipe).
 */
export function guardOutputs(): void {
  if (guarded) return;
  guarded = true;
  for (const [name, stream] of [['stdout', process.stdout], ['stderr', process.stderr]] as const) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (!e.code || !CLOSED_OUTPUT.has(e.code)) throw e;
      closedOutput ??= `a closed ${name} (${e.code})`;
      for (const s of subscribers) s(closedOutput);
    });
  }
}

export interface StopWatch {
  /** Why the run was asked to stop, or null. */
  readonly reason: string | null;
  /** Removes the signal handlers. */
  close(): void;
}

/**
 * Watches for stop requests until close(). `onStop` is told once, with the reason; an output that
 * closed before the watch began counts at once.
 */
export function watchStops(onStop: (why: string) => void): StopWatch {
  guardOutputs();
  let reason: string | null = null;
  const stop = (why: string): void => {
    if (reason !== null) return;
    reason = why;
    onStop(why);
  };
  let signalled = false;
  const onSignal = (signal: StopSignal): void => {
    // A second signal (Ctrl-C twice) quits without the checkpoint, with the shell's 128 + signal number.
    if (signalled) process.exit(128 + SIGNAL_NUMBERS[signal]);
    signalled = true;
    stop(signal);
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  subscribers.add(stop);
  if (closedOutput) stop(closedOutput);
  return {
    get reason() {
      return reason;
    },
    close() {
      for (const s of STOP_SIGNALS) process.off(s, onSignal);
      subscribers.delete(stop);
    },
  };
}

const SIGNAL_NUMBERS: Readonly<Record<StopSignal, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
