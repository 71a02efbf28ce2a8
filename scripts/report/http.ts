// HTTP for the report's sources: addresses as users type them, and GETs whose failures become
// a ReportError (exit 3) that names what was asked, of whom, and what came back.
import { EXIT, ReportError } from "./exit.ts";

/** `http://host:port[/path]` from a URL, `host:port` or a bare port; `flag` names it in errors. */
export function httpUrl(given: string, flag: string): string {
  const text = given.trim();
  const withScheme = /^\d+$/.test(text)
    ? `http://127.0.0.1:${text}`
    : /^[a-z][a-z0-9+.-]*:\/\//i.test(text)
      ? text
      : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ReportError(
      `${flag}: not a URL, host:port or port: "${given}"`,
      EXIT.usage,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new ReportError(
      `${flag}: must be http(s), got "${given}"`,
      EXIT.usage,
    );
  return url.origin + url.pathname.replace(/\/+$/, "");
}

/** GET `base + path`: its status and body; unreachable or no answer in time is a ReportError. */
export async function fetchText(
  base: string,
  path: string,
  what: string,
  timeoutMs: number,
): Promise<{ status: number; text: string }> {
  let res: Response;
  try {
    res = await fetch(base + path, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } })
      .cause;
    // Node's fetch never connects to the Fetch standard's blocked ports (1, 6000, 6665-6669, …).
    if (cause?.message === "bad port") {
      const port = new URL(base).port;
      throw new ReportError(
        `Node's fetch refuses port ${port} (one of the Fetch standard's blocked ports), so it cannot reach ${what} at ${base}: serve it on another port`,
        EXIT.noReport,
      );
    }
    const why =
      (err as Error).name === "TimeoutError"
        ? `no answer within ${timeoutMs / 1000} s`
        : (cause?.code ?? cause?.message ?? (err as Error).message);
    throw new ReportError(
      `cannot reach ${what} at ${base} (${why})`,
      EXIT.noReport,
    );
  }
  return { status: res.status, text: await res.text() };
}

/** GET `base + path` as JSON; an error status or a body that is not JSON is a ReportError. */
export async function getJson(
  base: string,
  path: string,
  what: string,
  timeoutMs: number,
): Promise<unknown> {
  const { status, text } = await fetchText(base, path, what, timeoutMs);
  const shown = path.split("?")[0];
  if (status >= 300)
    throw new ReportError(
      `${what} at ${base} answered ${shown} with ${status}: ${text.trim().slice(0, 300)}`,
      EXIT.noReport,
    );
  try {
    return JSON.parse(text);
  } catch {
    throw new ReportError(
      `${base}${shown} did not answer JSON: is it ${what}? (${text.trim().slice(0, 80)})`,
      EXIT.noReport,
    );
  }
}
