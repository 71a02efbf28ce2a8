// What istio-agent gives a sidecar's Envoy for its stats: the `stats_config` of Istio's own
// bootstrap template (tools/packaging/common/envoy_bootstrap.json of the Go module istio.io/istio,
// release-1.31, fetched from the Go module proxy and pinned: tools/provision/go-modules.ts), rendered for
// a pod's annotations as istio-agent renders it. The options are computed as pkg/bootstrap/
// config.go getStatsOptions computes them (its constants read from that file), and the template's
// stats_config block is executed by a Go text/template interpreter that knows the few actions the
// block uses and refuses any other. The tests check this rendering against Istio's own golden
// files (pkg/bootstrap/testdata, what Istio's tests get from istio-agent's real code), then run a
// real Envoy with it. Nothing of Istio's is committed here.
import {
  type GoModulePin,
  goModuleFiles,
  pinText,
} from "../../tools/provision/go-modules.ts";

/**
 * Istio, on its release-1.31 branch (istio.io/istio has no semver tags: its versions on the
 * proxy are pseudo-versions of commits; this one requires istio.io/api v1.31.0-rc.0+).
 */
export const ISTIO: GoModulePin = {
  module: "istio.io/istio",
  version: "v0.0.0-20260827124520-eed52ebb66ad",
  sha256: "2bc363619587a8b126791013a97f4c6fefbacbf475fba98a72d79601d7403225",
};

export const TEMPLATE = "tools/packaging/common/envoy_bootstrap.json";
export const CONFIG_GO = "pkg/bootstrap/config.go";
const ANNOTATION = {
  tags: "sidecar.istio.io/extraStatTags",
  buckets: "sidecar.istio.io/statsHistogramBuckets",
  prefixes: "sidecar.istio.io/statsInclusionPrefixes",
  suffixes: "sidecar.istio.io/statsInclusionSuffixes",
  regexps: "sidecar.istio.io/statsInclusionRegexps",
};

/** Istio's files the rendering and its checks read. */
export async function istioFiles(
  extra: readonly string[] = [],
): Promise<Record<string, string>> {
  return goModuleFiles(ISTIO, [TEMPLATE, CONFIG_GO, ...extra]);
}

/** Where they came from. */
export const ISTIO_SOURCE = `${pinText(ISTIO)} (release-1.31)`;

/** A Go string constant of config.go: "…" or a raw `…` string. */
export function goConstant(source: string, name: string): string {
  const m = new RegExp(
    `\\b${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|\`([^\`]*)\`)`,
  ).exec(source);
  if (!m) throw new Error(`istio-bootstrap: ${CONFIG_GO} has no ${name}`);
  return m[1] !== undefined ? (JSON.parse(`"${m[1]}"`) as string) : m[2];
}

/** The template's data for the stats_config block, as getStatsOptions sets it. */
export type StatsOptions = Record<string, unknown>;

/**
 * getStatsOptions (pkg/bootstrap/config.go) for a pod's annotations and its ProxyConfig's
 * extraStatTags, without stats-matcher settings in ProxyConfig and with the pod IPs unused (no
 * `{pod_ip}` in the annotations here), not exiting on zero active connections.
 */
export function statsOptions(
  configGo: string,
  annotations: Record<string, string>,
  proxyConfigExtraStatTags: readonly string[] = [],
): StatsOptions {
  const split = (s: string) => s.split(",");
  const inclusion = (anno: string, required: string) => [
    ...(annotations[anno] ? split(annotations[anno]) : []),
    ...split(required),
  ];
  const tags: string[] = [];
  for (const t of [
    ...proxyConfigExtraStatTags,
    ...(annotations[ANNOTATION.tags] ?? "").split(","),
  ])
    if (t !== "" && !tags.includes(t)) tags.push(t);
  const out: StatsOptions = {
    inclusionPrefix: inclusion(
      ANNOTATION.prefixes,
      goConstant(configGo, "requiredEnvoyStatsMatcherInclusionPrefixes"),
    ),
    inclusionSuffix: inclusion(
      ANNOTATION.suffixes,
      goConstant(configGo, "rbacEnvoyStatsMatcherInclusionSuffix"),
    ),
    inclusionRegexps: inclusion(
      ANNOTATION.regexps,
      goConstant(configGo, "requiredEnvoyStatsMatcherInclusionRegexes"),
    ),
  };
  if (tags.length > 0) out.extraStatTags = tags;
  const bucketsAnno = annotations[ANNOTATION.buckets];
  if (bucketsAnno !== undefined) {
    try {
      const js = JSON.parse(bucketsAnno) as Record<string, number[]>;
      out.histogram_buckets = Object.entries(js)
        .map(([prefix, buckets]) => ({ match: { prefix }, buckets }))
        .sort((a, b) =>
          a.match.prefix < b.match.prefix
            ? -1
            : a.match.prefix > b.match.prefix
              ? 1
              : 0,
        );
    } catch {
      // istio-agent logs "Failed to unmarshal histogram buckets" and goes on without them
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The stats_config block of the template, and a Go text/template interpreter for it.

/** The text of `"stats_config": {…}` in the template, template actions and all. */
export function statsConfigBlock(template: string): string {
  const start = template.indexOf('"stats_config": {');
  if (start < 0)
    throw new Error(`istio-bootstrap: ${TEMPLATE} has no stats_config`);
  let depth = 0;
  let inString = false;
  for (let i = template.indexOf("{", start); i < template.length; i++) {
    if (template.startsWith("{{", i)) {
      i = template.indexOf("}}", i) + 1;
      continue;
    }
    const c = template[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return template.slice(start, i + 1);
  }
  throw new Error("istio-bootstrap: stats_config does not end");
}

type Node =
  | { kind: "text"; text: string }
  | { kind: "print"; expr: string }
  | { kind: "if"; cond: string; then: Node[] }
  | { kind: "range"; key: string; value: string; over: string; body: Node[] };

/** Go's template.JSEscapeString. */
export function jsEscape(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === "\\") out += "\\\\";
    else if (ch === "'") out += "\\'";
    else if (ch === '"') out += '\\"';
    else if (ch === "<") out += "\\u003C";
    else if (ch === ">") out += "\\u003E";
    else if (ch === "&") out += "\\u0026";
    else if (ch === "=") out += "\\u003D";
    else if (
      c < 0x20 ||
      c === 0x7f ||
      (c >= 0x80 && !/\p{L}|\p{N}|\p{P}|\p{S}|\p{Zs}/u.test(ch))
    )
      out += `\\u${c.toString(16).toUpperCase().padStart(4, "0")}`;
    else out += ch;
  }
  return out;
}

function parse(text: string): Node[] {
  const actions = /\{\{(-?)\s*([\s\S]*?)\s*(-?)\}\}/g;
  const root: Node[] = [];
  const stack: Node[][] = [root];
  let last = 0;
  let trimNext = false;
  for (const m of text.matchAll(actions)) {
    let chunk = text.slice(last, m.index);
    if (trimNext) chunk = chunk.replace(/^\s+/, "");
    if (m[1] === "-") chunk = chunk.replace(/\s+$/, "");
    if (chunk) stack[stack.length - 1].push({ kind: "text", text: chunk });
    trimNext = m[3] === "-";
    last = m.index! + m[0].length;
    const action = m[2];
    let r: RegExpExecArray | null;
    if (action === "end") {
      if (stack.length === 1)
        throw new Error("istio-bootstrap: {{end}} without a block");
      stack.pop();
    } else if ((r = /^if (.+)$/.exec(action))) {
      const node: Node = { kind: "if", cond: r[1], then: [] };
      stack[stack.length - 1].push(node);
      stack.push(node.then);
    } else if ((r = /^range (\$\w+), (\$\w+) := (\.\w+)$/.exec(action))) {
      const node: Node = {
        kind: "range",
        key: r[1],
        value: r[2],
        over: r[3],
        body: [],
      };
      stack[stack.length - 1].push(node);
      stack.push(node.body);
    } else stack[stack.length - 1].push({ kind: "print", expr: action });
  }
  let tail = text.slice(last);
  if (trimNext) tail = tail.replace(/^\s+/, "");
  if (tail) root.push({ kind: "text", text: tail });
  if (stack.length !== 1)
    throw new Error("istio-bootstrap: a block does not end");
  return root;
}

const truthy = (v: unknown) =>
  !(
    v === undefined ||
    v === null ||
    v === false ||
    v === 0 ||
    v === "" ||
    (Array.isArray(v) && v.length === 0) ||
    (typeof v === "object" && Object.keys(v as object).length === 0)
  );

function evaluate(
  expr: string,
  data: StatsOptions,
  vars: Record<string, unknown>,
): unknown {
  const term = (t: string) => {
    if (t.startsWith("$")) {
      if (!(t in vars))
        throw new Error(`istio-bootstrap: undefined variable ${t}`);
      return vars[t];
    }
    if (/^\.\w+$/.test(t)) return data[t.slice(1)];
    throw new Error(`istio-bootstrap: unsupported template term ${t}`);
  };
  const words = expr.split(/\s+/);
  if (words.length === 1) return term(words[0]);
  const [fn, ...args] = words;
  const values = args.map(term);
  switch (fn) {
    case "toJson":
      return JSON.stringify(values[0] ?? null);
    case "js":
      return jsEscape(String(values[0]));
    case "or":
      return values.find(truthy) ?? values[values.length - 1];
    case "and":
      return values.find((v) => !truthy(v)) ?? values[values.length - 1];
  }
  throw new Error(`istio-bootstrap: unsupported template action {{${expr}}}`);
}

function execute(
  nodes: Node[],
  data: StatsOptions,
  vars: Record<string, unknown>,
): string {
  let out = "";
  for (const n of nodes) {
    if (n.kind === "text") out += n.text;
    else if (n.kind === "print") out += String(evaluate(n.expr, data, vars));
    else if (n.kind === "if") {
      if (truthy(evaluate(n.cond, data, vars)))
        out += execute(n.then, data, vars);
    } else {
      const over = evaluate(n.over, data, vars);
      if (over === undefined || over === null) continue;
      if (!Array.isArray(over))
        throw new Error(`istio-bootstrap: range over a non-list ${n.over}`);
      over.forEach((v, i) => {
        out += execute(n.body, data, { ...vars, [n.key]: i, [n.value]: v });
      });
    }
  }
  return out;
}

/** The template's stats_config rendered for `options`, as an object. */
export function renderStatsConfig(
  template: string,
  options: StatsOptions,
): Record<string, unknown> {
  const text = execute(parse(statsConfigBlock(template)), options, {});
  return (JSON.parse(`{${text}}`) as { stats_config: Record<string, unknown> })
    .stats_config;
}

/** istio-agent's stats_config for a pod with these annotations (Istio 1.31's template). */
export async function istioStatsConfig(
  annotations: Record<string, string>,
): Promise<Record<string, unknown>> {
  const files = await istioFiles();
  return renderStatsConfig(
    files[TEMPLATE],
    statsOptions(files[CONFIG_GO], annotations),
  );
}
