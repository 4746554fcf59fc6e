/** The clock and the repeating timer of the progress views; tests pass their own and fire them by hand. */
export interface ProgressTimers {
  /** Calls fn every ms until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
  now(): number;
}

/** Real time; the timers do not keep the process alive. */
export const realTimers: ProgressTimers = {
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
  now: () => Date.now(),
};
