// The report's exit codes, meant to gate a promotion pipeline, and the error that carries one.

/** Exit codes of `npm run report` (and `runReport().code`). */
export const EXIT = {
  /** every check passes on every target */
  pass: 0,
  /** a check fails on some target (the verdict names it) */
  fail: 1,
  /** some check has fewer samples than min_samples, and none fails */
  notEnoughData: 2,
  /** no report: the source is unreachable, answers an error, or shows no mirror metrics */
  noReport: 3,
  /** a bad argument or objectives file */
  usage: 4,
} as const;

/** A report could not be made; `code` is the exit code (EXIT.noReport or EXIT.usage). */
export class ReportError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = "ReportError";
  }
}
