// parseConfig: every field of the plugin JSON, its default, and every refusal
// with the exact "<field.path>: <reason>" line on_configure logs.

import {
  Config,
  ConfigResult,
  KeySource,
  PathMatch,
  Target,
  decimalPlaces,
  parseConfig,
} from "../../assembly/config";

const T = '"targets":[{"cluster":"dark","percentage":10}]';

/** A config with one plain target and `extra` top-level members. */
function top(extra: string): string {
  return "{" + T + "," + extra + "}";
}

/** A config whose only target has exactly the members `fields`. */
function target(fields: string): string {
  return '{"targets":[{' + fields + "}]}";
}

/** A config whose only target is "dark" at 10% plus the members `fields`. */
function targetWith(fields: string): string {
  return target('"cluster":"dark","percentage":10,' + fields);
}

function text(b: ArrayBuffer): string {
  return String.UTF8.decode(b);
}

function accepted(json: string): Config {
  const r = parseConfig(json);
  expect<string>(r.error).toBe("", json);
  expect<Config | null>(r.config).not.toBeNull(json);
  return r.config!;
}

function firstTarget(json: string): Target {
  const cfg = accepted(json);
  expect<i32>(cfg.targets.length).toBe(1, json);
  return cfg.targets[0];
}

/** A named, table-driven refusal: input JSON → the exact error. */
class Case {
  constructor(
    public name: string,
    public json: string,
    public error: string,
  ) {}
}

function checkRefusals(cases: Case[]): void {
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    const r: ConfigResult = parseConfig(c.json);
    expect<Config | null>(r.config).toBeNull(c.name);
    expect<string>(r.error).toBe(c.error, c.name);
  }
}

const KEY_FORM =
  'must be "header:NAME", "cookie:NAME", "query:NAME" or "path", got ';
const NOT_JSON = "configuration: is not valid JSON: ";
const EMPTY = "configuration: is empty: a plugin configuration is required";
/** What an unknown field far from every known name is told, per level. */
const TOP_KNOWN =
  " (known: targets, sampling, methods, method_override, unsafe_paths, marker, headers, max_body_bytes, max_inflight, max_buffered_bytes, compare)";
const TARGET_KNOWN =
  " (known: cluster, clusters, label, percentage, salt, timeout_ms, authority, host_suffix, match, max_rps)";
const SHORTHAND_KNOWN =
  " (known: targets, sampling, methods, method_override, unsafe_paths, marker, headers, max_body_bytes, max_inflight, max_buffered_bytes, compare, cluster, clusters, label, percentage, salt, timeout_ms, authority, host_suffix, match, max_rps)";
const MATCH_KNOWN =
  " (known: path_prefix, path_exact, path_segment_prefix, path_regex, headers, query, method)";

describe("defaults", () => {
  it("fills every default from a minimal config", () => {
    const cfg = accepted('{"targets":[{"cluster":"dark","percentage":10}]}');
    expect<i32>(cfg.targets.length).toBe(1);
    const t = cfg.targets[0];
    expect<string>(t.cluster).toBe("dark");
    expect<string>(text(t.clusterBytes)).toBe("dark");
    expect<string>(t.statName).toBe("dark");
    expect<f64>(t.percentage).toBe(10);
    expect<u32>(t.threshold).toBe(100000);
    expect<string>(t.salt).toBe("");
    expect<string>(text(t.saltPrefix)).toBe(":");
    expect<u32>(t.timeoutMs).toBe(5000);
    expect<string | null>(t.authority).toBeNull();
    expect<string>(t.hostSuffix).toBe("");
    expect<i32>(t.matches.length).toBe(0);
    expect<string>(t.label).toBe("dark");
    expect<string>(t.clusters.join(",")).toBe("dark");
    expect<i32>(t.clusterNames.length).toBe(1);
    expect<i32>(t.clusterInUse).toBe(0);

    expect<i32>(cfg.keys.length).toBe(1);
    expect<KeySource>(cfg.keys[0].source).toBe(KeySource.Header);
    expect<string>(cfg.keys[0].name).toBe("x-request-id");
    expect<string>(text(cfg.keys[0].nameBytes)).toBe("x-request-id");

    expect<string>(cfg.methods.join(",")).toBe("GET,HEAD,OPTIONS");
    expect<i32>(cfg.methodBytes.length).toBe(3);
    expect<string>(text(cfg.methodBytes[0])).toBe("GET");
    expect<string>(text(cfg.methodBytes[1])).toBe("HEAD");
    expect<string>(text(cfg.methodBytes[2])).toBe("OPTIONS");
    expect<i32>(cfg.unsafePaths.length).toBe(0);

    expect<string>(cfg.markerHeader).toBe("x-shadow");
    expect<string>(text(cfg.markerHeaderBytes)).toBe("x-shadow");
    expect<string>(cfg.markerValue).toBe("true");
    expect<bool>(cfg.markerStrip).toBe(false);

    expect<i32>(cfg.addHeaders.length).toBe(0);
    expect<string>(cfg.removeHeaders.join(",")).toBe(
      "authorization,proxy-authorization,cookie,x-forwarded-client-cert",
    );
    expect<u32>(cfg.maxBodyBytes).toBe(65536);
    expect<u32>(cfg.maxInflight).toBe(50);
  });

  it("keeps defaults of an object whose members are all omitted", () => {
    const cfg = accepted(
      top('"sampling":{},"marker":{},"headers":{},"unsafe_paths":[]'),
    );
    expect<string>(cfg.keys[0].name).toBe("x-request-id");
    expect<string>(cfg.markerHeader).toBe("x-shadow");
    expect<string>(cfg.markerValue).toBe("true");
    expect<bool>(cfg.markerStrip).toBe(false);
    expect<i32>(cfg.removeHeaders.length).toBe(4);
    expect<i32>(cfg.unsafePaths.length).toBe(0);
    const t = firstTarget(targetWith('"match":{}'));
    expect<i32>(t.matches.length).toBe(0);
  });
});

describe("every field set", () => {
  it("reads a full config", () => {
    const cfg = accepted(
      "{" +
        '"targets":[' +
        '{"cluster":"kitchen-next","percentage":12.5,"salt":"s1","timeout_ms":250,' +
        '"host_suffix":"-shadow","match":{"path_prefix":"/orders","headers":{"x-tenant":"acme","X-Region":"eu"}}},' +
        '{"cluster":"kitchen-canary","percentage":100,"authority":"canary.internal:8443"}' +
        "]," +
        '"sampling":{"keys":["header:X-User-Id","cookie:Session","query:uid","path","header::authority"],"salt":"top"},' +
        '"methods":["GET","POST","GET"],' +
        '"unsafe_paths":[{"methods":["POST","PUT"],"path_prefix":"/catalog.Reader/"}],' +
        '"marker":{"header":"x-dark","value":"1","inbound":"strip"},' +
        '"headers":{"add":{"x-env":"shadow","x-empty":""},"remove":["x-secret"]},' +
        '"max_body_bytes":1024,' +
        '"max_inflight":7' +
        "}",
    );
    expect<i32>(cfg.targets.length).toBe(2);
    const a = cfg.targets[0];
    expect<string>(a.cluster).toBe("kitchen-next");
    expect<f64>(a.percentage).toBe(12.5);
    expect<u32>(a.threshold).toBe(125000);
    expect<string>(a.salt).toBe("s1");
    expect<string>(text(a.saltPrefix)).toBe("s1:");
    expect<u32>(a.timeoutMs).toBe(250);
    expect<string | null>(a.authority).toBeNull();
    expect<string>(a.hostSuffix).toBe("-shadow");
    expect<i32>(a.matches.length).toBe(1);
    const am = a.matches[0];
    expect<PathMatch>(am.path).toBe(PathMatch.Prefix);
    expect<string>(text(am.pathBytes)).toBe("/orders");
    expect<i32>(am.headers.length).toBe(2);
    expect<string>(am.headers[0].name).toBe("x-tenant");
    expect<string>(text(am.headers[0].nameBytes)).toBe("x-tenant");
    expect<string>(text(am.headers[0].exact)).toBe("acme");
    expect<string>(am.headers[1].name).toBe("x-region");
    expect<string>(text(am.headers[1].exact)).toBe("eu");

    const b = cfg.targets[1];
    expect<string>(b.cluster).toBe("kitchen-canary");
    expect<u32>(b.threshold).toBe(1000000);
    expect<string>(b.salt).toBe("top");
    expect<string>(text(b.saltPrefix)).toBe("top:");
    expect<u32>(b.timeoutMs).toBe(5000);
    expect<string>(b.authority!).toBe("canary.internal:8443");

    expect<i32>(cfg.keys.length).toBe(5);
    expect<KeySource>(cfg.keys[0].source).toBe(KeySource.Header);
    expect<string>(cfg.keys[0].name).toBe("x-user-id");
    expect<string>(text(cfg.keys[0].nameBytes)).toBe("x-user-id");
    expect<KeySource>(cfg.keys[1].source).toBe(KeySource.Cookie);
    expect<string>(cfg.keys[1].name).toBe("Session");
    expect<KeySource>(cfg.keys[2].source).toBe(KeySource.Query);
    expect<string>(cfg.keys[2].name).toBe("uid");
    expect<string>(text(cfg.keys[2].nameBytes)).toBe("uid");
    expect<KeySource>(cfg.keys[3].source).toBe(KeySource.Path);
    expect<KeySource>(cfg.keys[4].source).toBe(KeySource.Header);
    expect<string>(cfg.keys[4].name).toBe(":authority");

    expect<string>(cfg.methods.join(",")).toBe("GET,POST");
    expect<i32>(cfg.methodBytes.length).toBe(2);
    expect<string>(text(cfg.methodBytes[1])).toBe("POST");

    expect<i32>(cfg.unsafePaths.length).toBe(1);
    const u = cfg.unsafePaths[0];
    expect<string>(u.methods.join(",")).toBe("POST,PUT");
    expect<i32>(u.methodBytes.length).toBe(2);
    expect<string>(text(u.methodBytes[1])).toBe("PUT");
    expect<string>(u.pathPrefix).toBe("/catalog.Reader/");
    expect<string>(text(u.pathPrefixBytes)).toBe("/catalog.Reader/");

    expect<string>(cfg.markerHeader).toBe("x-dark");
    expect<string>(text(cfg.markerHeaderBytes)).toBe("x-dark");
    expect<string>(cfg.markerValue).toBe("1");
    expect<bool>(cfg.markerStrip).toBe(true);

    expect<i32>(cfg.addHeaders.length).toBe(2);
    expect<string>(cfg.addHeaders[0].name).toBe("x-env");
    expect<string>(cfg.addHeaders[0].value).toBe("shadow");
    expect<string>(cfg.addHeaders[1].name).toBe("x-empty");
    expect<string>(cfg.addHeaders[1].value).toBe("");
    expect<string>(cfg.removeHeaders.join(",")).toBe("x-secret");

    expect<u32>(cfg.maxBodyBytes).toBe(1024);
    expect<u32>(cfg.maxInflight).toBe(7);
  });

  it("accepts the members in any order", () => {
    const cfg = accepted(
      '{"max_inflight":3,"sampling":{"salt":"z","keys":["path"]},' + T + "}",
    );
    expect<u32>(cfg.maxInflight).toBe(3);
    expect<string>(cfg.targets[0].salt).toBe("z");
    expect<KeySource>(cfg.keys[0].source).toBe(KeySource.Path);
  });
});

describe("root", () => {
  it("refuses empty, malformed and non-object configurations", () => {
    checkRefusals([
      new Case("empty", "", EMPTY),
      new Case("blank", " \n\t\r ", EMPTY),
      new Case("empty object", "{}", "targets: is required"),
      new Case(
        "array root",
        "[]",
        "configuration: must be an object, got an array",
      ),
      new Case(
        "null root",
        "null",
        "configuration: must be an object, got null",
      ),
      new Case(
        "number root",
        "42",
        "configuration: must be an object, got a number",
      ),
      new Case(
        "string root",
        '"x"',
        "configuration: must be an object, got a string",
      ),
      new Case(
        "boolean root",
        "true",
        "configuration: must be an object, got a boolean",
      ),
      new Case(
        "unclosed object",
        "{",
        NOT_JSON + "expected a field name at offset 1",
      ),
      new Case(
        "missing value",
        '{"targets":}',
        NOT_JSON + "unexpected character at offset 11",
      ),
      new Case(
        "single quotes",
        "{'targets':[]}",
        NOT_JSON + "expected a field name at offset 1",
      ),
      new Case(
        "trailing comma",
        '{"targets":[],}',
        NOT_JSON + "expected a field name at offset 14",
      ),
      new Case(
        "trailing data",
        '{"targets":[]} {}',
        NOT_JSON + "unexpected data after the document at offset 15",
      ),
      new Case(
        "unterminated string",
        '{"targets',
        NOT_JSON + "unterminated string at offset 9",
      ),
      new Case(
        "comment",
        '{"targets":[] // no\n}',
        NOT_JSON + "expected ',' or '}' at offset 14",
      ),
      new Case(
        "leading zero",
        top('"max_inflight":010'),
        NOT_JSON + "expected ',' or '}' at offset 64",
      ),
      new Case(
        "raw newline in a string",
        '{"targets":[{"cluster":"a\nb"}]}',
        NOT_JSON + "control character in string at offset 25",
      ),
      new Case(
        "bad escape",
        '{"targets":[{"cluster":"\\q"}]}',
        NOT_JSON + "invalid escape at offset 25",
      ),
    ]);
  });

  it("refuses duplicate fields at any level", () => {
    checkRefusals([
      new Case(
        "duplicate targets",
        "{" + T + "," + T + "}",
        NOT_JSON + 'duplicate field "targets" at offset 57',
      ),
      new Case(
        "duplicate cluster",
        target('"cluster":"a","cluster":"b","percentage":1'),
        NOT_JSON + 'duplicate field "cluster" at offset 36',
      ),
      new Case(
        "duplicate marker.header",
        top('"marker":{"header":"x-a","header":"x-b"}'),
        NOT_JSON + 'duplicate field "header" at offset 81',
      ),
      new Case(
        "duplicate headers.add name",
        top('"headers":{"add":{"x-a":"1","x-a":"2"}}'),
        NOT_JSON + 'duplicate field "x-a" at offset 81',
      ),
    ]);
  });

  it("refuses deep nesting without crashing", () => {
    const deep = '{"x":' + "[".repeat(100000) + "]".repeat(100000) + "}";
    checkRefusals([
      new Case(
        "100000 arrays",
        deep,
        NOT_JSON + "nesting deeper than 32 at offset 37",
      ),
      new Case(
        "deep objects in match",
        targetWith('"match":' + '{"a":'.repeat(40) + "1" + "}".repeat(40)),
        NOT_JSON + "nesting deeper than 32 at offset 204",
      ),
    ]);
  });

  it("refuses nesting the JSON reader accepts in an unknown field", () => {
    checkRefusals([
      new Case(
        "20 levels",
        "{" + '"x":' + "[".repeat(20) + "]".repeat(20) + "," + T + "}",
        "x: unknown field" + TOP_KNOWN,
      ),
    ]);
  });
});

describe("unknown fields", () => {
  it("refuses an unknown field at each level, naming its path", () => {
    checkRefusals([
      new Case("top level", top('"foo":1'), "foo: unknown field" + TOP_KNOWN),
      new Case(
        "top level, before anything else",
        '{"foo":1}',
        "foo: unknown field" + TOP_KNOWN,
      ),
      new Case(
        "top level, case differs",
        top('"Methods":["GET"]'),
        'Methods: unknown field (did you mean "methods"?)',
      ),
      new Case(
        "target member at the top without cluster",
        top('"percentage":5'),
        "percentage: unknown field" + TOP_KNOWN,
      ),
      new Case(
        "target",
        targetWith('"weight":1'),
        "targets[0].weight: unknown field" + TARGET_KNOWN,
      ),
      new Case(
        "second target",
        '{"targets":[{"cluster":"a","percentage":1},{"cluster":"b","percentage":1,"Salt":"x"}]}',
        'targets[1].Salt: unknown field (did you mean "salt"?)',
      ),
      new Case(
        "target.match",
        targetWith('"match":{"prefix":"/"}'),
        "targets[0].match.prefix: unknown field" + MATCH_KNOWN,
      ),
      new Case(
        "sampling",
        top('"sampling":{"key":["path"]}'),
        'sampling.key: unknown field (did you mean "keys"?)',
      ),
      new Case(
        "marker",
        top('"marker":{"name":"x-a"}'),
        "marker.name: unknown field (known: header, value, inbound)",
      ),
      new Case(
        "headers",
        top('"headers":{"set":{}}'),
        "headers.set: unknown field (known: add, remove)",
      ),
      new Case(
        "unsafe_paths[0]",
        top(
          '"unsafe_paths":[{"methods":["POST"],"path_prefix":"/a","paths":[]}]',
        ),
        "unsafe_paths[0].paths: unknown field (known: methods, path_prefix)",
      ),
      new Case(
        "shorthand top level",
        '{"cluster":"dark","percentage":1,"foo":1}',
        "foo: unknown field" + SHORTHAND_KNOWN,
      ),
      new Case(
        "shorthand match",
        '{"cluster":"dark","percentage":1,"match":{"foo":1}}',
        "match.foo: unknown field" + MATCH_KNOWN,
      ),
    ]);
  });
});

describe("unknown fields: the nearest known name", () => {
  it("suggests the known name a typo is nearest to, at each level", () => {
    checkRefusals([
      new Case(
        "a missing letter",
        target('"cluster":"dark","percentge":10'),
        'targets[0].percentge: unknown field (did you mean "percentage"?)',
      ),
      new Case(
        "the shorthand",
        '{"cluster":"dark","percentge":10}',
        'percentge: unknown field (did you mean "percentage"?)',
      ),
      new Case(
        "a letter dropped from cluster",
        targetWith('"clustr":"x"'),
        'targets[0].clustr: unknown field (did you mean "cluster"?)',
      ),
      new Case(
        "two neighbours swapped",
        targetWith('"timeotu_ms":5'),
        'targets[0].timeotu_ms: unknown field (did you mean "timeout_ms"?)',
      ),
      new Case(
        "a letter too many",
        top('"max_inflightt":5'),
        'max_inflightt: unknown field (did you mean "max_inflight"?)',
      ),
      new Case(
        "a dash for an underscore",
        top('"max-body-bytes":5'),
        'max-body-bytes: unknown field (did you mean "max_body_bytes"?)',
      ),
      new Case(
        "case only",
        targetWith('"Match":{}'),
        'targets[0].Match: unknown field (did you mean "match"?)',
      ),
      new Case(
        "a singular",
        top('"target":[]'),
        'target: unknown field (did you mean "targets"?)',
      ),
      new Case(
        "in match",
        targetWith('"match":{"header":{}}'),
        'targets[0].match.header: unknown field (did you mean "headers"?)',
      ),
      new Case(
        "in marker",
        top('"marker":{"inbond":"skip"}'),
        'marker.inbond: unknown field (did you mean "inbound"?)',
      ),
      new Case(
        "in compare",
        top('"compare":{"ignore_status":[]}'),
        'compare.ignore_status: unknown field (did you mean "ignore_statuses"?)',
      ),
      new Case(
        "in unsafe_paths",
        top('"unsafe_paths":[{"method":["POST"],"path_prefix":"/a"}]'),
        'unsafe_paths[0].method: unknown field (did you mean "methods"?)',
      ),
    ]);
  });

  it("suggests nothing when no known name is near", () => {
    checkRefusals([
      new Case(
        "three letters",
        top('"foo":1'),
        "foo: unknown field" + TOP_KNOWN,
      ),
      new Case(
        "another word",
        targetWith('"weight":1'),
        "targets[0].weight: unknown field" + TARGET_KNOWN,
      ),
      new Case(
        "a shorter name of another field",
        targetWith('"match":{"prefix":"/"}'),
        "targets[0].match.prefix: unknown field" + MATCH_KNOWN,
      ),
      new Case(
        "a target field at the top level without cluster",
        top('"percentage":5'),
        "percentage: unknown field" + TOP_KNOWN,
      ),
      new Case("one letter", top('"x":1'), "x: unknown field" + TOP_KNOWN),
      new Case(
        "a very long name",
        top('"' + "targets".repeat(20) + '":1'),
        "targets".repeat(20) + ": unknown field" + TOP_KNOWN,
      ),
      new Case("an empty name", top('"":1'), '"": unknown field' + TOP_KNOWN),
    ]);
  });
});

describe("targets", () => {
  it("refuses a bad targets list or target", () => {
    checkRefusals([
      new Case("missing", '{"methods":["GET"]}', "targets: is required"),
      new Case(
        "object",
        '{"targets":{"cluster":"a","percentage":1}}',
        "targets: must be an array, got an object",
      ),
      new Case(
        "string",
        '{"targets":"a"}',
        "targets: must be an array, got a string",
      ),
      new Case(
        "null",
        '{"targets":null}',
        "targets: must be an array, got null",
      ),
      new Case("empty", '{"targets":[]}', "targets: must not be empty"),
      new Case(
        "number item",
        '{"targets":[1]}',
        "targets[0]: must be an object, got a number",
      ),
      new Case(
        "null item",
        '{"targets":[null]}',
        "targets[0]: must be an object, got null",
      ),
      new Case(
        "array item",
        '{"targets":[{"cluster":"a","percentage":1},[]]}',
        "targets[1]: must be an object, got an array",
      ),
    ]);
  });

  it("refuses a bad cluster", () => {
    checkRefusals([
      new Case(
        "missing",
        target('"percentage":10'),
        "targets[0].cluster: is required",
      ),
      new Case(
        "number",
        target('"cluster":5,"percentage":10'),
        "targets[0].cluster: must be a string, got a number",
      ),
      new Case(
        "null",
        target('"cluster":null,"percentage":10'),
        "targets[0].cluster: must be a string, got null",
      ),
      new Case(
        "empty",
        target('"cluster":"","percentage":10'),
        "targets[0].cluster: must not be empty",
      ),
      new Case(
        "control character",
        target('"cluster":"a\\u0001","percentage":10'),
        "targets[0].cluster: must not contain control characters",
      ),
      new Case(
        "DEL",
        target('"cluster":"a\\u007f","percentage":10'),
        "targets[0].cluster: must not contain control characters",
      ),
      new Case(
        "reported before a later error",
        target('"cluster":"","percentage":150'),
        "targets[0].cluster: must not be empty",
      ),
    ]);
  });

  it("keeps the cluster name as the metrics' target label (only ';' is replaced)", () => {
    expect<string>(
      firstTarget(
        target('"cluster":"outbound|80||kitchen.default.svc","percentage":1'),
      ).statName,
    ).toBe("outbound|80||kitchen.default.svc");
    expect<string>(
      firstTarget(target('"cluster":"a;b;.;c","percentage":1')).statName,
    ).toBe("a_b_._c");
    const t = firstTarget(target('"cluster":"küche","percentage":1'));
    expect<string>(t.cluster).toBe("küche");
    expect<i32>(t.clusterBytes.byteLength).toBe(6);
  });

  it("refuses a bad percentage", () => {
    checkRefusals([
      new Case(
        "missing",
        target('"cluster":"dark"'),
        "targets[0].percentage: is required",
      ),
      new Case(
        "string",
        target('"cluster":"dark","percentage":"10"'),
        "targets[0].percentage: must be a number, got a string",
      ),
      new Case(
        "null",
        target('"cluster":"dark","percentage":null'),
        "targets[0].percentage: must be a number, got null",
      ),
      new Case(
        "boolean",
        target('"cluster":"dark","percentage":true'),
        "targets[0].percentage: must be a number, got a boolean",
      ),
      new Case(
        "150",
        target('"cluster":"dark","percentage":150'),
        "targets[0].percentage: must be between 0 and 100, got 150",
      ),
      new Case(
        "100.0001",
        target('"cluster":"dark","percentage":100.0001'),
        "targets[0].percentage: must be between 0 and 100, got 100.0001",
      ),
      new Case(
        "-1",
        target('"cluster":"dark","percentage":-1'),
        "targets[0].percentage: must be between 0 and 100, got -1",
      ),
      new Case(
        "-0.0001",
        target('"cluster":"dark","percentage":-0.0001'),
        "targets[0].percentage: must be between 0 and 100, got -0.0001",
      ),
      new Case(
        "1e400",
        target('"cluster":"dark","percentage":1e400'),
        "targets[0].percentage: must be between 0 and 100, got 1e400",
      ),
      new Case(
        "-1e400",
        target('"cluster":"dark","percentage":-1e400'),
        "targets[0].percentage: must be between 0 and 100, got -1e400",
      ),
      new Case(
        "5 decimals",
        target('"cluster":"dark","percentage":10.12345'),
        "targets[0].percentage: must have at most 4 decimal places, got 10.12345",
      ),
      new Case(
        "0.00001",
        target('"cluster":"dark","percentage":0.00001'),
        "targets[0].percentage: must have at most 4 decimal places, got 0.00001",
      ),
      new Case(
        "0.00005",
        target('"cluster":"dark","percentage":0.00005'),
        "targets[0].percentage: must have at most 4 decimal places, got 0.00005",
      ),
      new Case(
        "99.99999",
        target('"cluster":"dark","percentage":99.99999'),
        "targets[0].percentage: must have at most 4 decimal places, got 99.99999",
      ),
      new Case(
        "1e-5",
        target('"cluster":"dark","percentage":1e-5'),
        "targets[0].percentage: must have at most 4 decimal places, got 1e-5",
      ),
      new Case(
        "8 decimals",
        target('"cluster":"dark","percentage":10.00000001'),
        "targets[0].percentage: must have at most 4 decimal places, got 10.00000001",
      ),
      new Case(
        "11 decimals (float noise must not let it through)",
        target('"cluster":"dark","percentage":10.00000000001'),
        "targets[0].percentage: must have at most 4 decimal places, got 10.00000000001",
      ),
      new Case(
        "0.1 + 0.2 as a float prints",
        target('"cluster":"dark","percentage":0.30000000000000004'),
        "targets[0].percentage: must have at most 4 decimal places, got 0.30000000000000004",
      ),
      new Case(
        "100e-6 has 4 significant decimals, 100e-7 has 5",
        target('"cluster":"dark","percentage":100e-7'),
        "targets[0].percentage: must have at most 4 decimal places, got 100e-7",
      ),
      new Case(
        "second target",
        '{"targets":[{"cluster":"a","percentage":1},{"cluster":"b","percentage":101}]}',
        "targets[1].percentage: must be between 0 and 100, got 101",
      ),
    ]);
  });

  it("computes the threshold as round(percentage × 10000)", () => {
    const pcts: string[] = [
      "0",
      "-0",
      "0.0001",
      "0.0003",
      "0.5",
      "1",
      "4.1",
      "10",
      "12.3456",
      "33.3333",
      "50.00",
      "57.0001",
      "99.9999",
      "100",
      "100.0",
      "1e1",
      "1E-4",
      "5e+1",
      "0.25e2",
    ];
    const thresholds: u32[] = [
      0, 0, 1, 3, 5000, 10000, 41000, 100000, 123456, 333333, 500000, 570001,
      999999, 1000000, 1000000, 100000, 1, 500000, 250000,
    ];
    for (let i = 0; i < pcts.length; i++) {
      const t = firstTarget(target('"cluster":"dark","percentage":' + pcts[i]));
      expect<u32>(t.threshold).toBe(thresholds[i], pcts[i]);
    }
    expect<f64>(
      firstTarget(target('"cluster":"dark","percentage":33.3333')).percentage,
    ).toBe(33.3333);
  });

  it("reads the salt and inherits sampling.salt", () => {
    const cfg = accepted(
      '{"targets":[{"cluster":"a","percentage":1,"salt":"per"},{"cluster":"b","percentage":1},{"cluster":"c","percentage":1,"salt":""}],"sampling":{"salt":"top"}}',
    );
    expect<string>(cfg.targets[0].salt).toBe("per");
    expect<string>(text(cfg.targets[0].saltPrefix)).toBe("per:");
    expect<string>(cfg.targets[1].salt).toBe("top");
    expect<string>(text(cfg.targets[1].saltPrefix)).toBe("top:");
    expect<string>(cfg.targets[2].salt).toBe("");
    expect<string>(text(cfg.targets[2].saltPrefix)).toBe(":");
    const u = firstTarget(targetWith('"salt":"sel-é"'));
    expect<string>(u.salt).toBe("sel-é");
    expect<i32>(u.saltPrefix.byteLength).toBe(7);
    const s = accepted(
      '{"cluster":"a","percentage":1,"sampling":{"salt":"top"}}',
    );
    expect<string>(s.targets[0].salt).toBe("top");
  });

  it("refuses a bad salt", () => {
    checkRefusals([
      new Case(
        "number",
        targetWith('"salt":1'),
        "targets[0].salt: must be a string, got a number",
      ),
      new Case(
        "null",
        targetWith('"salt":null'),
        "targets[0].salt: must be a string, got null",
      ),
      new Case(
        "control character",
        targetWith('"salt":"a\\tb"'),
        "targets[0].salt: must not contain control characters",
      ),
    ]);
  });

  it("reads timeout_ms", () => {
    expect<u32>(firstTarget(targetWith('"timeout_ms":1')).timeoutMs).toBe(1);
    expect<u32>(firstTarget(targetWith('"timeout_ms":600000')).timeoutMs).toBe(
      600000,
    );
    expect<u32>(firstTarget(targetWith('"timeout_ms":1e3')).timeoutMs).toBe(
      1000,
    );
    expect<u32>(firstTarget(targetWith('"timeout_ms":250.0')).timeoutMs).toBe(
      250,
    );
  });

  it("refuses a bad timeout_ms", () => {
    checkRefusals([
      new Case(
        "0",
        targetWith('"timeout_ms":0'),
        "targets[0].timeout_ms: must be between 1 and 600000, got 0",
      ),
      new Case(
        "600001",
        targetWith('"timeout_ms":600001'),
        "targets[0].timeout_ms: must be between 1 and 600000, got 600001",
      ),
      new Case(
        "-1",
        targetWith('"timeout_ms":-1'),
        "targets[0].timeout_ms: must be between 1 and 600000, got -1",
      ),
      new Case(
        "1e400",
        targetWith('"timeout_ms":1e400'),
        "targets[0].timeout_ms: must be between 1 and 600000, got 1e400",
      ),
      new Case(
        "1.5",
        targetWith('"timeout_ms":1.5'),
        "targets[0].timeout_ms: must be a whole number, got 1.5",
      ),
      new Case(
        "5e-1",
        targetWith('"timeout_ms":5e-1'),
        "targets[0].timeout_ms: must be a whole number, got 5e-1",
      ),
      new Case(
        "string",
        targetWith('"timeout_ms":"5000"'),
        "targets[0].timeout_ms: must be a number, got a string",
      ),
      new Case(
        "null",
        targetWith('"timeout_ms":null'),
        "targets[0].timeout_ms: must be a number, got null",
      ),
    ]);
  });

  it("reads authority and host_suffix", () => {
    expect<string>(
      firstTarget(targetWith('"authority":"kitchen-next.internal:8080"'))
        .authority!,
    ).toBe("kitchen-next.internal:8080");
    expect<string>(
      firstTarget(targetWith('"authority":"[::1]:8080"')).authority!,
    ).toBe("[::1]:8080");
    expect<string>(
      firstTarget(targetWith('"host_suffix":"-shadow"')).hostSuffix,
    ).toBe("-shadow");
    expect<string>(firstTarget(targetWith('"host_suffix":""')).hostSuffix).toBe(
      "",
    );
    const both = firstTarget(
      targetWith('"authority":"dark.local","host_suffix":""'),
    );
    expect<string>(both.authority!).toBe("dark.local");
    expect<string>(both.hostSuffix).toBe("");
  });

  it("refuses a bad authority or host_suffix, or both together", () => {
    checkRefusals([
      new Case(
        "authority number",
        targetWith('"authority":1'),
        "targets[0].authority: must be a string, got a number",
      ),
      new Case(
        "authority empty",
        targetWith('"authority":""'),
        "targets[0].authority: must not be empty",
      ),
      new Case(
        "authority space",
        targetWith('"authority":"a b"'),
        'targets[0].authority: must be a host[:port] without spaces, got "a b"',
      ),
      new Case(
        "authority path",
        targetWith('"authority":"a/b"'),
        'targets[0].authority: must be a host[:port] without spaces, got "a/b"',
      ),
      new Case(
        "authority userinfo",
        targetWith('"authority":"u@a"'),
        'targets[0].authority: must be a host[:port] without spaces, got "u@a"',
      ),
      new Case(
        "authority query",
        targetWith('"authority":"a?b"'),
        'targets[0].authority: must be a host[:port] without spaces, got "a?b"',
      ),
      new Case(
        "authority fragment",
        targetWith('"authority":"a#b"'),
        'targets[0].authority: must be a host[:port] without spaces, got "a#b"',
      ),
      new Case(
        "authority non-ASCII",
        targetWith('"authority":"küche"'),
        'targets[0].authority: must be a host[:port] without spaces, got "küche"',
      ),
      new Case(
        "authority control",
        targetWith('"authority":"a\\u0000"'),
        "targets[0].authority: must not contain control characters",
      ),
      new Case(
        "host_suffix number",
        targetWith('"host_suffix":1'),
        "targets[0].host_suffix: must be a string, got a number",
      ),
      new Case(
        "host_suffix space",
        targetWith('"host_suffix":"- shadow"'),
        'targets[0].host_suffix: must be a host[:port] without spaces, got "- shadow"',
      ),
      new Case(
        "host_suffix slash",
        targetWith('"host_suffix":"/x"'),
        'targets[0].host_suffix: must be a host[:port] without spaces, got "/x"',
      ),
      new Case(
        "both",
        targetWith('"authority":"dark.local","host_suffix":"-shadow"'),
        "targets[0].host_suffix: cannot be combined with authority",
      ),
      new Case(
        "both, suffix first",
        targetWith('"host_suffix":"-shadow","authority":"dark.local"'),
        "targets[0].host_suffix: cannot be combined with authority",
      ),
    ]);
  });

  it("reads match", () => {
    const t = firstTarget(
      targetWith(
        '"match":{"path_prefix":"/","headers":{"X-Tenant":"ACME","x-empty":""}}',
      ),
    );
    const m = t.matches[0];
    expect<PathMatch>(m.path).toBe(PathMatch.Prefix);
    expect<string>(text(m.pathBytes)).toBe("/");
    expect<i32>(m.headers.length).toBe(2);
    expect<string>(m.headers[0].name).toBe("x-tenant");
    expect<string>(text(m.headers[0].exact)).toBe("ACME");
    expect<string>(m.headers[1].name).toBe("x-empty");
    expect<i32>(m.headers[1].exact.byteLength).toBe(0);
    const u = firstTarget(targetWith('"match":{"headers":{"x-v":"é"}}'));
    expect<i32>(u.matches[0].headers[0].exact.byteLength).toBe(2);
  });

  it("refuses a bad match", () => {
    checkRefusals([
      new Case(
        "match string",
        targetWith('"match":"/orders"'),
        "targets[0].match: must be an object or an array of objects, got a string",
      ),
      new Case(
        "match array",
        targetWith('"match":[]'),
        "targets[0].match: must have 1 to 16 objects, got 0",
      ),
      new Case(
        "path_prefix number",
        targetWith('"match":{"path_prefix":1}'),
        "targets[0].match.path_prefix: must be a string, got a number",
      ),
      new Case(
        "path_prefix empty",
        targetWith('"match":{"path_prefix":""}'),
        "targets[0].match.path_prefix: must not be empty",
      ),
      new Case(
        "path_prefix relative",
        targetWith('"match":{"path_prefix":"orders"}'),
        'targets[0].match.path_prefix: must start with "/", got "orders"',
      ),
      new Case(
        "path_prefix absolute URL",
        targetWith('"match":{"path_prefix":"http://a/b"}'),
        'targets[0].match.path_prefix: must start with "/", got "http://a/b"',
      ),
      new Case(
        "headers array",
        targetWith('"match":{"headers":[]}'),
        "targets[0].match.headers: must be an object, got an array",
      ),
      new Case(
        "header value number",
        targetWith('"match":{"headers":{"x-tenant":1}}'),
        'targets[0].match.headers.x-tenant: must be a string (exact value) or an object {"exact": "…"} or {"regex": "…"}, got a number',
      ),
      new Case(
        "header value control",
        targetWith('"match":{"headers":{"x-tenant":"a\\r\\nb"}}'),
        "targets[0].match.headers.x-tenant: must not contain control characters",
      ),
      new Case(
        "header name with space",
        targetWith('"match":{"headers":{"x tenant":"a"}}'),
        'targets[0].match.headers."x tenant": must be a valid lower-case HTTP header name, got "x tenant"',
      ),
      new Case(
        "header name empty",
        targetWith('"match":{"headers":{"":"a"}}'),
        'targets[0].match.headers."": must be a valid lower-case HTTP header name, got ""',
      ),
      new Case(
        "header name with colon",
        targetWith('"match":{"headers":{"x:y":"a"}}'),
        'targets[0].match.headers."x:y": must be a valid lower-case HTTP header name, got "x:y"',
      ),
      new Case(
        "pseudo-header name",
        targetWith('"match":{"headers":{":path":"/"}}'),
        'targets[0].match.headers.":path": must be a valid lower-case HTTP header name, got ":path"',
      ),
    ]);
  });
});

describe("shorthand", () => {
  it("reads {cluster, percentage} as one target", () => {
    const cfg = accepted('{"cluster":"kitchen-next","percentage":5}');
    expect<i32>(cfg.targets.length).toBe(1);
    expect<string>(cfg.targets[0].cluster).toBe("kitchen-next");
    expect<u32>(cfg.targets[0].threshold).toBe(50000);
    expect<u32>(cfg.targets[0].timeoutMs).toBe(5000);
  });

  it("takes every target member and every top-level field", () => {
    const cfg = accepted(
      '{"cluster":"dark","percentage":0.5,"salt":"s","timeout_ms":100,"host_suffix":"-sh","match":{"path_prefix":"/a"},"methods":["GET"],"max_inflight":2,"marker":{"inbound":"strip"}}',
    );
    const t = cfg.targets[0];
    expect<u32>(t.threshold).toBe(5000);
    expect<string>(t.salt).toBe("s");
    expect<u32>(t.timeoutMs).toBe(100);
    expect<string>(t.hostSuffix).toBe("-sh");
    expect<string>(text(t.matches[0].pathBytes)).toBe("/a");
    expect<string>(cfg.methods.join(",")).toBe("GET");
    expect<u32>(cfg.maxInflight).toBe(2);
    expect<bool>(cfg.markerStrip).toBe(true);
    expect<string>(
      accepted('{"cluster":"dark","percentage":1,"authority":"x.y"}').targets[0]
        .authority!,
    ).toBe("x.y");
  });

  it("refuses shorthand errors with top-level paths, and shorthand with targets", () => {
    checkRefusals([
      new Case(
        "with targets",
        '{"cluster":"a","percentage":1,' + T + "}",
        'targets: cannot be combined with the shorthand "cluster" at the top level',
      ),
      new Case(
        "with empty targets",
        '{"cluster":"a","percentage":1,"targets":[]}',
        'targets: cannot be combined with the shorthand "cluster" at the top level',
      ),
      new Case(
        "missing percentage",
        '{"cluster":"a"}',
        "percentage: is required",
      ),
      new Case(
        "percentage 150",
        '{"cluster":"a","percentage":150}',
        "percentage: must be between 0 and 100, got 150",
      ),
      new Case(
        "percentage decimals",
        '{"cluster":"a","percentage":1.23456}',
        "percentage: must have at most 4 decimal places, got 1.23456",
      ),
      new Case(
        "cluster empty",
        '{"cluster":"","percentage":1}',
        "cluster: must not be empty",
      ),
      new Case(
        "cluster number",
        '{"cluster":5,"percentage":1}',
        "cluster: must be a string, got a number",
      ),
      new Case(
        "cluster null",
        '{"cluster":null,"percentage":1}',
        "cluster: must be a string, got null",
      ),
      new Case(
        "timeout 0",
        '{"cluster":"a","percentage":1,"timeout_ms":0}',
        "timeout_ms: must be between 1 and 600000, got 0",
      ),
      new Case(
        "authority and suffix",
        '{"cluster":"a","percentage":1,"authority":"b","host_suffix":"-s"}',
        "host_suffix: cannot be combined with authority",
      ),
      new Case(
        "match path_prefix",
        '{"cluster":"a","percentage":1,"match":{"path_prefix":"a"}}',
        'match.path_prefix: must start with "/", got "a"',
      ),
    ]);
  });
});

describe("sampling", () => {
  it("reads every key form", () => {
    const cfg = accepted(
      top(
        '"sampling":{"keys":["header:x-user-id","header:X-Mixed-Case","header::authority","cookie:session","cookie:My Cookie","query:uid","query:user.id","path"]}',
      ),
    );
    expect<i32>(cfg.keys.length).toBe(8);
    const sources: KeySource[] = [
      KeySource.Header,
      KeySource.Header,
      KeySource.Header,
      KeySource.Cookie,
      KeySource.Cookie,
      KeySource.Query,
      KeySource.Query,
      KeySource.Path,
    ];
    const names: string[] = [
      "x-user-id",
      "x-mixed-case",
      ":authority",
      "session",
      "My Cookie",
      "uid",
      "user.id",
      "",
    ];
    for (let i = 0; i < names.length; i++) {
      expect<KeySource>(cfg.keys[i].source).toBe(sources[i], names[i]);
      expect<string>(cfg.keys[i].name).toBe(names[i]);
      expect<string>(text(cfg.keys[i].nameBytes)).toBe(names[i]);
    }
  });

  it("reads the salt", () => {
    expect<string>(
      accepted(top('"sampling":{"salt":"v2"}')).targets[0].salt,
    ).toBe("v2");
    expect<string>(
      accepted(top('"sampling":{"salt":""}')).targets[0].salt,
    ).toBe("");
  });

  it("refuses a bad sampling object", () => {
    checkRefusals([
      new Case(
        "array",
        top('"sampling":[]'),
        "sampling: must be an object, got an array",
      ),
      new Case(
        "null",
        top('"sampling":null'),
        "sampling: must be an object, got null",
      ),
      new Case(
        "keys string",
        top('"sampling":{"keys":"path"}'),
        "sampling.keys: must be an array, got a string",
      ),
      new Case(
        "keys empty",
        top('"sampling":{"keys":[]}'),
        "sampling.keys: must not be empty",
      ),
      new Case(
        "key number",
        top('"sampling":{"keys":[1]}'),
        "sampling.keys[0]: must be a string, got a number",
      ),
      new Case(
        "key empty",
        top('"sampling":{"keys":[""]}'),
        "sampling.keys[0]: must not be empty",
      ),
      new Case(
        "key control",
        top('"sampling":{"keys":["header:a\\u0001"]}'),
        "sampling.keys[0]: must not contain control characters",
      ),
      new Case(
        "salt number",
        top('"sampling":{"salt":7}'),
        "sampling.salt: must be a string, got a number",
      ),
      new Case(
        "salt control",
        top('"sampling":{"salt":"a\\nb"}'),
        "sampling.salt: must not contain control characters",
      ),
    ]);
  });

  it("refuses a malformed key form", () => {
    const bad: string[] = [
      "hdr:x",
      "header",
      "header:",
      "header::",
      "header:x y",
      "header:x\\\\y",
      "Header:x",
      "cookie",
      "cookie:",
      "cookie:a;b",
      "query:",
      "query:a&b",
      "Path",
      "path:x",
      "path:",
      "body",
      ":authority",
    ];
    const shown: string[] = [
      "hdr:x",
      "header",
      "header:",
      "header::",
      "header:x y",
      "header:x\\y",
      "Header:x",
      "cookie",
      "cookie:",
      "cookie:a;b",
      "query:",
      "query:a&b",
      "Path",
      "path:x",
      "path:",
      "body",
      ":authority",
    ];
    for (let i = 0; i < bad.length; i++) {
      const r = parseConfig(
        top('"sampling":{"keys":["path","' + bad[i] + '"]}'),
      );
      expect<Config | null>(r.config).toBeNull(bad[i]);
      expect<string>(r.error).toBe(
        "sampling.keys[1]: " + KEY_FORM + '"' + shown[i] + '"',
        bad[i],
      );
    }
  });
});

describe("methods", () => {
  it("reads methods, dropping duplicates, and allows an empty list", () => {
    const cfg = accepted(top('"methods":["GET","POST","GET","X-CUSTOM_ONE"]'));
    expect<string>(cfg.methods.join(",")).toBe("GET,POST,X-CUSTOM_ONE");
    expect<i32>(cfg.methodBytes.length).toBe(3);
    expect<string>(text(cfg.methodBytes[2])).toBe("X-CUSTOM_ONE");
    const none = accepted(top('"methods":[]'));
    expect<i32>(none.methods.length).toBe(0);
    expect<i32>(none.methodBytes.length).toBe(0);
  });

  it("refuses bad methods", () => {
    checkRefusals([
      new Case(
        "string",
        top('"methods":"GET"'),
        "methods: must be an array, got a string",
      ),
      new Case(
        "number item",
        top('"methods":[1]'),
        "methods[0]: must be a string, got a number",
      ),
      new Case(
        "empty item",
        top('"methods":["GET",""]'),
        "methods[1]: must not be empty",
      ),
      new Case(
        "lower case",
        top('"methods":["get"]'),
        'methods[0]: must be an upper-case HTTP method token, got "get"',
      ),
      new Case(
        "mixed case",
        top('"methods":["GET","Post"]'),
        'methods[1]: must be an upper-case HTTP method token, got "Post"',
      ),
      new Case(
        "space",
        top('"methods":["PO ST"]'),
        'methods[0]: must be an upper-case HTTP method token, got "PO ST"',
      ),
      new Case(
        "non-ASCII",
        top('"methods":["GÉT"]'),
        'methods[0]: must be an upper-case HTTP method token, got "GÉT"',
      ),
    ]);
  });
});

describe("unsafe_paths", () => {
  it("reads rules", () => {
    const cfg = accepted(
      top(
        '"unsafe_paths":[{"methods":["POST"],"path_prefix":"/a/"},{"path_prefix":"/b","methods":["PUT","PATCH","PUT"]}]',
      ),
    );
    expect<i32>(cfg.unsafePaths.length).toBe(2);
    expect<string>(cfg.unsafePaths[0].methods.join(",")).toBe("POST");
    expect<string>(cfg.unsafePaths[0].pathPrefix).toBe("/a/");
    expect<string>(cfg.unsafePaths[1].methods.join(",")).toBe("PUT,PATCH");
    expect<i32>(cfg.unsafePaths[1].methodBytes.length).toBe(2);
    expect<string>(text(cfg.unsafePaths[1].pathPrefixBytes)).toBe("/b");
  });

  it("refuses bad rules", () => {
    checkRefusals([
      new Case(
        "object",
        top('"unsafe_paths":{}'),
        "unsafe_paths: must be an array, got an object",
      ),
      new Case(
        "number item",
        top('"unsafe_paths":[1]'),
        "unsafe_paths[0]: must be an object, got a number",
      ),
      new Case(
        "without methods",
        top('"unsafe_paths":[{"path_prefix":"/a"}]'),
        "unsafe_paths[0].methods: is required",
      ),
      new Case(
        "empty methods",
        top('"unsafe_paths":[{"methods":[],"path_prefix":"/a"}]'),
        "unsafe_paths[0].methods: must not be empty",
      ),
      new Case(
        "methods string",
        top('"unsafe_paths":[{"methods":"POST","path_prefix":"/a"}]'),
        "unsafe_paths[0].methods: must be an array, got a string",
      ),
      new Case(
        "lower-case method",
        top('"unsafe_paths":[{"methods":["post"],"path_prefix":"/a"}]'),
        'unsafe_paths[0].methods[0]: must be an upper-case HTTP method token, got "post"',
      ),
      new Case(
        "without path_prefix",
        top('"unsafe_paths":[{"methods":["POST"]}]'),
        "unsafe_paths[0].path_prefix: is required",
      ),
      new Case(
        "empty path_prefix",
        top('"unsafe_paths":[{"methods":["POST"],"path_prefix":""}]'),
        "unsafe_paths[0].path_prefix: must not be empty",
      ),
      new Case(
        "relative path_prefix",
        top('"unsafe_paths":[{"methods":["POST"],"path_prefix":"a/"}]'),
        'unsafe_paths[0].path_prefix: must start with "/", got "a/"',
      ),
      new Case(
        "path_prefix number",
        top('"unsafe_paths":[{"methods":["POST"],"path_prefix":1}]'),
        "unsafe_paths[0].path_prefix: must be a string, got a number",
      ),
      new Case(
        "second rule",
        top(
          '"unsafe_paths":[{"methods":["POST"],"path_prefix":"/a"},{"methods":["POST"]}]',
        ),
        "unsafe_paths[1].path_prefix: is required",
      ),
    ]);
  });
});

describe("marker", () => {
  it("reads header, value and inbound", () => {
    const cfg = accepted(
      top('"marker":{"header":"x-dark-copy","value":"yes","inbound":"skip"}'),
    );
    expect<string>(cfg.markerHeader).toBe("x-dark-copy");
    expect<string>(text(cfg.markerHeaderBytes)).toBe("x-dark-copy");
    expect<string>(cfg.markerValue).toBe("yes");
    expect<bool>(cfg.markerStrip).toBe(false);
    expect<bool>(
      accepted(top('"marker":{"inbound":"strip"}')).markerStrip,
    ).toBe(true);
    expect<string>(accepted(top('"marker":{"value":"é"}')).markerValue).toBe(
      "é",
    );
  });

  it("refuses a bad marker", () => {
    checkRefusals([
      new Case(
        "string",
        top('"marker":"x-shadow"'),
        "marker: must be an object, got a string",
      ),
      new Case(
        "header number",
        top('"marker":{"header":1}'),
        "marker.header: must be a string, got a number",
      ),
      new Case(
        "header empty",
        top('"marker":{"header":""}'),
        "marker.header: must not be empty",
      ),
      new Case(
        "header upper case",
        top('"marker":{"header":"X-Shadow"}'),
        'marker.header: must be a valid lower-case HTTP header name, got "X-Shadow"',
      ),
      new Case(
        "header space",
        top('"marker":{"header":"x shadow"}'),
        'marker.header: must be a valid lower-case HTTP header name, got "x shadow"',
      ),
      new Case(
        "header pseudo",
        top('"marker":{"header":":authority"}'),
        'marker.header: must not be a pseudo-header, a hop-by-hop header or content-length, got ":authority"',
      ),
      new Case(
        "header connection",
        top('"marker":{"header":"connection"}'),
        'marker.header: must not be a pseudo-header, a hop-by-hop header or content-length, got "connection"',
      ),
      new Case(
        "header keep-alive",
        top('"marker":{"header":"keep-alive"}'),
        'marker.header: must not be a pseudo-header, a hop-by-hop header or content-length, got "keep-alive"',
      ),
      new Case(
        "header proxy-connection",
        top('"marker":{"header":"proxy-connection"}'),
        'marker.header: must not be a pseudo-header, a hop-by-hop header or content-length, got "proxy-connection"',
      ),
      new Case(
        "header transfer-encoding",
        top('"marker":{"header":"transfer-encoding"}'),
        'marker.header: must not be a pseudo-header, a hop-by-hop header or content-length, got "transfer-encoding"',
      ),
      new Case(
        "header upgrade",
        top('"marker":{"header":"upgrade"}'),
        'marker.header: must not be a pseudo-header, a hop-by-hop header or content-length, got "upgrade"',
      ),
      new Case(
        "header te",
        top('"marker":{"header":"te"}'),
        'marker.header: must not be a pseudo-header, a hop-by-hop header or content-length, got "te"',
      ),
      new Case(
        "header trailer",
        top('"marker":{"header":"trailer"}'),
        'marker.header: must not be a pseudo-header, a hop-by-hop header or content-length, got "trailer"',
      ),
      new Case(
        "value empty",
        top('"marker":{"value":""}'),
        "marker.value: must not be empty",
      ),
      new Case(
        "value number",
        top('"marker":{"value":1}'),
        "marker.value: must be a string, got a number",
      ),
      new Case(
        "value boolean",
        top('"marker":{"value":true}'),
        "marker.value: must be a string, got a boolean",
      ),
      new Case(
        "value control",
        top('"marker":{"value":"a\\nb"}'),
        "marker.value: must not contain control characters",
      ),
      new Case(
        "inbound other",
        top('"marker":{"inbound":"drop"}'),
        'marker.inbound: must be "skip" or "strip", got "drop"',
      ),
      new Case(
        "inbound case",
        top('"marker":{"inbound":"Strip"}'),
        'marker.inbound: must be "skip" or "strip", got "Strip"',
      ),
      new Case(
        "inbound empty",
        top('"marker":{"inbound":""}'),
        'marker.inbound: must be "skip" or "strip", got ""',
      ),
      new Case(
        "inbound boolean",
        top('"marker":{"inbound":false}'),
        "marker.inbound: must be a string, got a boolean",
      ),
    ]);
  });
});

describe("headers", () => {
  it("reads add and remove; remove replaces the default list", () => {
    const cfg = accepted(
      top(
        '"headers":{"add":{"x-env":"shadow","x-v":"é ü"},"remove":["x-secret","cookie"]}',
      ),
    );
    expect<i32>(cfg.addHeaders.length).toBe(2);
    expect<string>(cfg.addHeaders[1].name).toBe("x-v");
    expect<string>(cfg.addHeaders[1].value).toBe("é ü");
    expect<string>(cfg.removeHeaders.join(",")).toBe("x-secret,cookie");
    expect<i32>(
      accepted(top('"headers":{"remove":[]}')).removeHeaders.length,
    ).toBe(0);
    expect<i32>(
      accepted(top('"headers":{"add":{}}')).removeHeaders.length,
    ).toBe(4);
  });

  it("refuses bad headers", () => {
    checkRefusals([
      new Case(
        "array",
        top('"headers":[]'),
        "headers: must be an object, got an array",
      ),
      new Case(
        "add array",
        top('"headers":{"add":[]}'),
        "headers.add: must be an object, got an array",
      ),
      new Case(
        "add upper-case name",
        top('"headers":{"add":{"X-Env":"a"}}'),
        'headers.add.X-Env: must be a valid lower-case HTTP header name, got "X-Env"',
      ),
      new Case(
        "add name with space",
        top('"headers":{"add":{"x env":"a"}}'),
        'headers.add."x env": must be a valid lower-case HTTP header name, got "x env"',
      ),
      new Case(
        "add empty name",
        top('"headers":{"add":{"":"a"}}'),
        'headers.add."": must not be empty',
      ),
      new Case(
        "add pseudo",
        top('"headers":{"add":{":authority":"a"}}'),
        'headers.add.":authority": must not be a pseudo-header, a hop-by-hop header or content-length, got ":authority"',
      ),
      new Case(
        "add :path",
        top('"headers":{"add":{":path":"/"}}'),
        'headers.add.":path": must not be a pseudo-header, a hop-by-hop header or content-length, got ":path"',
      ),
      new Case(
        "add connection",
        top('"headers":{"add":{"connection":"close"}}'),
        'headers.add.connection: must not be a pseudo-header, a hop-by-hop header or content-length, got "connection"',
      ),
      new Case(
        "add transfer-encoding",
        top('"headers":{"add":{"transfer-encoding":"chunked"}}'),
        'headers.add.transfer-encoding: must not be a pseudo-header, a hop-by-hop header or content-length, got "transfer-encoding"',
      ),
      new Case(
        "add value number",
        top('"headers":{"add":{"x-env":1}}'),
        "headers.add.x-env: must be a string, got a number",
      ),
      new Case(
        "add value null",
        top('"headers":{"add":{"x-env":null}}'),
        "headers.add.x-env: must be a string, got null",
      ),
      new Case(
        "add value control",
        top('"headers":{"add":{"x-env":"a\\r\\nx-evil: 1"}}'),
        "headers.add.x-env: must not contain control characters",
      ),
      new Case(
        "remove string",
        top('"headers":{"remove":"cookie"}'),
        "headers.remove: must be an array, got a string",
      ),
      new Case(
        "remove number item",
        top('"headers":{"remove":[1]}'),
        "headers.remove[0]: must be a string, got a number",
      ),
      new Case(
        "remove empty item",
        top('"headers":{"remove":["x-a",""]}'),
        "headers.remove[1]: must not be empty",
      ),
      new Case(
        "remove upper case",
        top('"headers":{"remove":["Cookie"]}'),
        'headers.remove[0]: must be a valid lower-case HTTP header name, got "Cookie"',
      ),
      new Case(
        "remove pseudo",
        top('"headers":{"remove":[":path"]}'),
        'headers.remove[0]: must not be a pseudo-header, a hop-by-hop header or content-length, got ":path"',
      ),
      new Case(
        "remove hop-by-hop",
        top('"headers":{"remove":["upgrade"]}'),
        'headers.remove[0]: must not be a pseudo-header, a hop-by-hop header or content-length, got "upgrade"',
      ),
    ]);
  });
});

describe("limits", () => {
  it("reads max_body_bytes and max_inflight at their bounds", () => {
    expect<u32>(accepted(top('"max_body_bytes":0')).maxBodyBytes).toBe(0);
    expect<u32>(accepted(top('"max_body_bytes":16777216')).maxBodyBytes).toBe(
      16777216,
    );
    expect<u32>(accepted(top('"max_inflight":1')).maxInflight).toBe(1);
    expect<u32>(accepted(top('"max_inflight":100000')).maxInflight).toBe(
      100000,
    );
    expect<u32>(accepted(top('"max_inflight":1e2')).maxInflight).toBe(100);
  });

  it("refuses out-of-range and non-integer limits", () => {
    checkRefusals([
      new Case(
        "max_body_bytes -1",
        top('"max_body_bytes":-1'),
        "max_body_bytes: must be between 0 and 16777216, got -1",
      ),
      new Case(
        "max_body_bytes 16777217",
        top('"max_body_bytes":16777217'),
        "max_body_bytes: must be between 0 and 16777216, got 16777217",
      ),
      new Case(
        "max_body_bytes 1.5",
        top('"max_body_bytes":1.5'),
        "max_body_bytes: must be a whole number, got 1.5",
      ),
      new Case(
        "max_body_bytes string",
        top('"max_body_bytes":"64k"'),
        "max_body_bytes: must be a number, got a string",
      ),
      new Case(
        "max_body_bytes 1e400",
        top('"max_body_bytes":1e400'),
        "max_body_bytes: must be between 0 and 16777216, got 1e400",
      ),
      new Case(
        "max_inflight 0",
        top('"max_inflight":0'),
        "max_inflight: must be between 1 and 100000, got 0",
      ),
      new Case(
        "max_inflight 100001",
        top('"max_inflight":100001'),
        "max_inflight: must be between 1 and 100000, got 100001",
      ),
      new Case(
        "max_inflight 2.5",
        top('"max_inflight":2.5'),
        "max_inflight: must be a whole number, got 2.5",
      ),
      new Case(
        "max_inflight null",
        top('"max_inflight":null'),
        "max_inflight: must be a number, got null",
      ),
      new Case(
        "max_inflight array",
        top('"max_inflight":[1]'),
        "max_inflight: must be a number, got an array",
      ),
    ]);
  });
});

describe("decimalPlaces", () => {
  it("counts decimals as written, ignoring trailing zeros", () => {
    expect<i32>(decimalPlaces("10")).toBe(0);
    expect<i32>(decimalPlaces("10.50")).toBe(1);
    expect<i32>(decimalPlaces("10.0000")).toBe(0);
    expect<i32>(decimalPlaces("0.0001")).toBe(4);
    expect<i32>(decimalPlaces("1e-4")).toBe(4);
    expect<i32>(decimalPlaces("100e-6")).toBe(4);
    expect<i32>(decimalPlaces("0.25e2")).toBe(0);
    expect<i32>(decimalPlaces("33.3333")).toBe(4);
    expect<i32>(decimalPlaces("10.00000000001")).toBe(11);
  });

  it("accepts trailing zeros beyond four places", () => {
    const r = parseConfig('{"cluster":"dark","percentage":12.500000}');
    expect<string>(r.error).toBe("");
    expect<u32>(r.config!.targets[0].threshold).toBe(125000);
  });
});

describe("headers that would corrupt the copy", () => {
  it("refuses content-length and the marker in headers.add, content-length as marker", () => {
    expect<string>(
      parseConfig(
        '{"cluster":"d","percentage":1,"headers":{"add":{"content-length":"5"}}}',
      ).error,
    ).toBe(
      'headers.add.content-length: must not be a pseudo-header, a hop-by-hop header or content-length, got "content-length"',
    );
    expect<string>(
      parseConfig(
        '{"cluster":"d","percentage":1,"headers":{"add":{"x-shadow":"1"}}}',
      ).error,
    ).toBe(
      "headers.add.x-shadow: must not be the marker header (marker.value sets it)",
    );
    expect<string>(
      parseConfig(
        '{"cluster":"d","percentage":1,"marker":{"header":"content-length"}}',
      ).error,
    ).toBe(
      'marker.header: must not be a pseudo-header, a hop-by-hop header or content-length, got "content-length"',
    );
  });

  it("refuses '=' in cookie and query key names; accepts digits in methods", () => {
    expect<string>(
      parseConfig(
        '{"cluster":"d","percentage":1,"sampling":{"keys":["query:a=b"]}}',
      ).error,
    ).toBe(
      'sampling.keys[0]: must be "header:NAME", "cookie:NAME", "query:NAME" or "path", got "query:a=b"',
    );
    expect<string>(
      parseConfig('{"cluster":"d","percentage":1,"methods":["GET2"]}').error,
    ).toBe("");
  });
});
