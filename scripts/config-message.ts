// A refused plugin config file, told to a person at a terminal: the filter's own messages (what
// Envoy would log), with the line and column of a JSON syntax error — the filter gives its byte
// offset — and the line itself under it, and a plain word when the file is YAML or begins with a
// byte order mark, which the filter (and Envoy) read as a JSON syntax error at offset 0.
import { parse as parseYaml } from "yaml";

/** Where a byte offset of `text` (as UTF-8) falls: 1-based line and column (in characters). */
export function positionOf(
  text: string,
  offset: number,
): { line: number; column: number; lineText: string } {
  const bytes = Buffer.from(text, "utf8");
  const before = bytes.subarray(0, Math.min(offset, bytes.length)).toString();
  const lines = before.split("\n");
  const line = lines.length;
  const column = [...lines[line - 1]].length + 1;
  const lineText = text.split("\n")[line - 1].replace(/\r$/, "");
  return { line, column, lineText };
}

/** The line of text with a caret under `column`, cut to about 100 columns around it. */
function pointAt(lineText: string, column: number): string[] {
  const chars = [...lineText];
  let start = 0;
  let end = chars.length;
  if (chars.length > 100) {
    start = Math.max(0, column - 1 - 60);
    end = Math.min(chars.length, start + 100);
  }
  const shown =
    (start > 0 ? "…" : "") +
    chars.slice(start, end).join("") +
    (end < chars.length ? "…" : "");
  const pad = chars
    .slice(start, column - 1)
    .map((c) => (c === "\t" ? "\t" : " "))
    .join("");
  return [`  ${shown}`, `  ${start > 0 ? " " : ""}${pad}^`];
}

/** Whether `text` reads as YAML (a mapping or a list) though it is not JSON. */
function looksLikeYaml(text: string): boolean {
  const first = text.replace(/^\uFEFF/, "").trimStart()[0];
  if (first === "{" || first === "[") return false;
  try {
    const value = parseYaml(text);
    return value !== null && typeof value === "object";
  } catch {
    return false;
  }
}

/**
 * The lines to print for a file the filter refused: each of its messages after the file's name
 * (`FILE:LINE:COLUMN:` when the message gives a byte offset, with the line and a caret), then what
 * a byte order mark or YAML means here.
 */
export function refusalLines(
  shown: string,
  text: string,
  messages: string[],
): string[] {
  const out: string[] = [];
  for (const message of messages) {
    const at = / at offset (\d+)$/.exec(message);
    if (!at) {
      out.push(`${shown}: ${message}`);
      continue;
    }
    const { line, column, lineText } = positionOf(text, Number(at[1]));
    out.push(`${shown}:${line}:${column}: ${message}`);
    // A byte order mark is shown by the line below, not as an invisible character.
    const bom = line === 1 && lineText.startsWith("\uFEFF") ? 1 : 0;
    if (lineText.trim())
      out.push(...pointAt(lineText.slice(bom), Math.max(1, column - bom)));
  }
  if (!messages.some((m) => m.includes("is not valid JSON"))) return out;
  if (text.startsWith("\uFEFF"))
    out.push(
      `${shown}: begins with a byte order mark (BOM), which JSON does not allow and Envoy refuses: save it as UTF-8 without a BOM`,
    );
  else if (looksLikeYaml(text))
    out.push(
      `${shown}: is YAML, but the plugin config is JSON (Istio hands a WasmPlugin's YAML pluginConfig over as JSON): write the file as JSON to check it`,
    );
  return out;
}
