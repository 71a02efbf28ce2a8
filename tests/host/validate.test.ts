/**
 * What `npm run validate` prints for a refused file (scripts/config-message.ts), from the release
 * module's own messages: a JSON syntax error by line and column with the line under it, a byte
 * order mark and YAML named as such, any other refusal as the filter says it.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { refusalLines } from "../../scripts/config-message.ts";
import { checkPluginConfig } from "../../scripts/plugin-config.ts";

/** What validate prints for `text`, shown as `f.json`, after the real filter refuses it. */
async function printed(text: string): Promise<string[]> {
  const { ok, messages } = await checkPluginConfig(text);
  assert.equal(ok, false, `the filter accepted ${JSON.stringify(text)}`);
  return refusalLines("f.json", text, messages);
}

const JSON_ERROR = "invalid plugin config: configuration: is not valid JSON:";

describe("npm run validate's message for a refused file", () => {
  const cases: Record<string, { text: string; lines: string[] }> = {
    "a trailing comma: its line and column, the line and a caret under the brace":
      {
        text: '{\n  "targets": [\n    {"cluster": "k", "percentage": 10,}\n  ]\n}\n',
        lines: [
          `f.json:3:39: ${JSON_ERROR} expected a field name at offset 55`,
          '      {"cluster": "k", "percentage": 10,}',
          " ".repeat(40) + "^",
        ],
      },
    "columns count characters, not bytes, and a tab stays a tab under the line":
      {
        text: '{"targets":[{"cluster":"k",\t"percentage":1,"é":2,}]}',
        lines: [
          `f.json:1:49: ${JSON_ERROR} expected a field name at offset 49`,
          '  {"targets":[{"cluster":"k",\t"percentage":1,"é":2,}]}',
          "                             \t                    ^",
        ],
      },
    "a byte order mark is named, with what to do": {
      text: '\uFEFF{"cluster":"k","percentage":1}',
      lines: [
        `f.json:1:1: ${JSON_ERROR} unexpected character at offset 0`,
        '  {"cluster":"k","percentage":1}',
        "  ^",
        "f.json: begins with a byte order mark (BOM), which JSON does not allow and Envoy refuses: save it as UTF-8 without a BOM",
      ],
    },
    "YAML is named as such": {
      text: "targets:\n  - cluster: k\n    percentage: 1\n",
      lines: [
        `f.json:1:1: ${JSON_ERROR} unexpected character at offset 0`,
        "  targets:",
        "  ^",
        "f.json: is YAML, but the plugin config is JSON (Istio hands a WasmPlugin's YAML pluginConfig over as JSON): write the file as JSON to check it",
      ],
    },
    "JSON with a syntax error is not taken for YAML": {
      text: '{"cluster": "k", "percentage": 1,}',
      lines: [
        `f.json:1:34: ${JSON_ERROR} expected a field name at offset 33`,
        '  {"cluster": "k", "percentage": 1,}',
        "                                   ^",
      ],
    },
    "a refusal without a position is the filter's line after the file's name": {
      text: '{"cluster": "k", "percentage": 150}',
      lines: [
        "f.json: invalid plugin config: percentage: must be between 0 and 100, got 150",
      ],
    },
  };
  for (const [name, { text, lines }] of Object.entries(cases))
    it(name, async () => assert.deepEqual(await printed(text), lines));

  it("a long line is cut around the error, the caret still under it", async () => {
    const padding = `"${"x".repeat(300)}": 1, `;
    const text = `{"cluster": "k", ${padding}"percentage": 1,}`;
    const [first, shown, caret] = await printed(text);
    assert.match(first, /^f\.json:1:\d+: .*expected a field name/);
    assert.ok(shown.length <= 104, shown);
    assert.match(shown, /^ {2}…x+": 1, "percentage": 1,\}$/);
    assert.equal(shown[caret.length - 1], "}");
    assert.match(caret, /^ +\^$/);
  });
});
