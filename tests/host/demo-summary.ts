/**
 * Reads the counts of `npm start`'s summaries (scripts/demo.ts) back from its output, for the
 * tests that check they add up: in a real run (tests/e2e/cli.test.ts) and in the README's sample
 * (tests/host/docs.test.ts).
 */

/** One summary: the orders sent, and how Envoy's stats account for them. */
export interface DemoSummary {
  /** orders sent (answered or not) */
  sent: number;
  /** orders the live kitchen answered 2xx */
  liveOk: number;
  copies: number;
  /** each "Not mirrored" line's count */
  notMirrored: number[];
  /** the next kitchen's answers, by class, reset or timeout last */
  darkAnswers: number[];
  inflight: number;
  /** "The next kitchen received N copies", when the summary says it */
  received?: number;
}

/** Every summary in `output`, in order (the first after the burst, then the final counts). */
export function demoSummaries(output: string): DemoSummary[] {
  const summaries: DemoSummary[] = [];
  for (const block of output.split(/^(?=Live: )/m).slice(1)) {
    const live = /^Live: (\d+) of (\d+) orders/.exec(block);
    const copies = /^Mirrored to the next kitchen: (\d+)$/m.exec(block);
    const dark =
      /^How the next kitchen answered: 2xx (\d+), 3xx (\d+), 4xx (\d+), 5xx (\d+), reset or timeout (\d+) \(in flight: (\d+)\)/m.exec(
        block,
      );
    if (!live || !copies || !dark)
      throw new Error(`not a summary of npm start:\n${block}`);
    const notMirrored = /^Not mirrored:\n((?:\s+\d+ .*\n)*)/m.exec(block);
    const received = /^The next kitchen received (\d+) copies/m.exec(block);
    summaries.push({
      sent: Number(live[2]),
      liveOk: Number(live[1]),
      copies: Number(copies[1]),
      notMirrored: [...(notMirrored?.[1] ?? "").matchAll(/^\s+(\d+) /gm)].map(
        (m) => Number(m[1]),
      ),
      darkAnswers: dark.slice(1, 6).map(Number),
      inflight: Number(dark[6]),
      ...(received ? { received: Number(received[1]) } : {}),
    });
  }
  return summaries;
}

/** What a summary's counts must satisfy; empty when they add up. */
export function summaryGaps(s: DemoSummary): string[] {
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const gaps: string[] = [];
  if (s.copies + sum(s.notMirrored) !== s.sent)
    gaps.push(
      `mirrored ${s.copies} + not mirrored ${sum(s.notMirrored)} ≠ ${s.sent} orders sent`,
    );
  if (sum(s.darkAnswers) + s.inflight !== s.copies)
    gaps.push(
      `dark answers ${sum(s.darkAnswers)} + in flight ${s.inflight} ≠ ${s.copies} copies`,
    );
  if (s.received !== undefined && s.received !== s.copies)
    gaps.push(
      `the next kitchen received ${s.received} copies, the stats count ${s.copies}`,
    );
  return gaps;
}
