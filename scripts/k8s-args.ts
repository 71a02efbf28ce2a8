// Command-line values that name Kubernetes things, checked as `npm run istio` and
// `npm run gateway` read them: a wrong one is a usage error naming the flag.

/** A bad argument: the command prints its message in one line and exits 2. */
export class UsageError extends Error {}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A port number, 1–65535. */
export function portOf(flag: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535)
    throw new UsageError(
      `${flag}: must be a port number (1-65535), got "${text}"`,
    );
  return n;
}

/** A Kubernetes name (and with `dotted`, NAME.NAMESPACE). */
export function nameOf(flag: string, text: string, dotted = false): string {
  const parts = dotted ? text.split(".") : [text];
  if (parts.length > 2 || !parts.every((p) => NAME.test(p) && p.length <= 63))
    throw new UsageError(
      `${flag}: must be a Kubernetes name (lower-case letters, digits and -)${dotted ? ", optionally .NAMESPACE" : ""}, got "${text}"`,
    );
  return text;
}

/** A label selector K=V[,K=V]. */
export function selectorOf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(",")) {
    const m = /^([A-Za-z0-9][-A-Za-z0-9_./]*)=([-A-Za-z0-9_.]*)$/.exec(pair);
    if (!m)
      throw new UsageError(`--selector: expected K=V[,K=V], got "${text}"`);
    out[m[1]] = m[2];
  }
  return out;
}
