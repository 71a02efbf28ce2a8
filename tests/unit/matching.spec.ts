// The target fields of the Gateway API mapping: clusters (names tried in order), label (the
// metrics' mirror_target), and match as an object or an array of objects with path_prefix,
// path_exact, path_segment_prefix, path_regex, headers and query (exact or regex) and method —
// what is accepted, what each condition fits, and every refusal with its exact message. Also:
// every error of a configuration is reported, and the order cluster names are tried in.

import {
  Config,
  ConfigResult,
  PathMatch,
  Target,
  parseConfig,
} from "../../assembly/config";
import { MAX_ERRORS } from "../../assembly/configcheck";
import {
  KeySpan,
  RequestView,
  clusterToTry,
  queryParam,
  targetMatches,
} from "../../assembly/policy";

function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

function text(b: ArrayBuffer): string {
  return String.UTF8.decode(b);
}

function accepted(json: string): Config {
  const r = parseConfig(json);
  expect<string>(r.error).toBe("", json);
  return r.config!;
}

/** The first target of a config with one target "dark" at 10 % plus `fields`. */
function one(fields: string): Target {
  return accepted(
    '{"targets":[{"cluster":"dark","percentage":10,' + fields + "}]}",
  ).targets[0];
}

function refused(json: string, error: string): void {
  const r: ConfigResult = parseConfig(json);
  expect<Config | null>(r.config).toBeNull(json);
  expect<string>(r.error).toBe(error, json);
}

/** A refused target "dark" at 10 % with `fields`. */
function refusedWith(fields: string, error: string): void {
  refused(
    '{"targets":[{"cluster":"dark","percentage":10,' + fields + "}]}",
    error,
  );
}

/** A request: method, path and headers in a map. */
class Req extends RequestView {
  headers: Map<string, ArrayBuffer> = new Map();
  path: string;

  constructor(method: string, path: string) {
    super();
    this.path = path;
    this.headers.set(":method", utf8(method));
    this.headers.set(":path", utf8(path));
  }

  with(name: string, value: string): Req {
    this.headers.set(name, utf8(value));
    return this;
  }

  header(name: ArrayBuffer): ArrayBuffer | null {
    const n = String.UTF8.decode(name);
    return this.headers.has(n) ? this.headers.get(n) : null;
  }

  headerLike(name: ArrayBuffer): bool {
    return false;
  }
}

/** Whether the match `json` (an object or an array) fits a GET of `path` with `headers`. */
function fits(json: string, req: Req): bool {
  const t = one('"match":' + json);
  return targetMatches(t, new KeySpan().of(utf8(req.path)), req);
}

function get(path: string): Req {
  return new Req("GET", path);
}

describe("clusters", () => {
  it("takes 1 to 4 names, tried in order, the first named cluster", () => {
    const t = accepted(
      '{"targets":[{"clusters":["outbound|80||kitchen.default.svc.cluster.local","inbound-vip|80|http|kitchen.default.svc.cluster.local"],"percentage":5}]}',
    ).targets[0];
    expect<string>(t.clusters.join(" ")).toBe(
      "outbound|80||kitchen.default.svc.cluster.local inbound-vip|80|http|kitchen.default.svc.cluster.local",
    );
    expect<i32>(t.clusterNames.length).toBe(2);
    expect<string>(text(t.clusterNames[1])).toBe(
      "inbound-vip|80|http|kitchen.default.svc.cluster.local",
    );
    expect<string>(t.cluster).toBe(
      "outbound|80||kitchen.default.svc.cluster.local",
    );
    expect<string>(text(t.clusterBytes)).toBe(t.cluster);
    expect<string>(t.label).toBe(t.cluster);
    expect<string>(t.statName).toBe(t.cluster);
    expect<i32>(
      accepted('{"clusters":["a","b","c","d"],"percentage":1}').targets[0]
        .clusters.length,
    ).toBe(4);
    expect<string>(
      accepted('{"clusters":["only"],"percentage":1}').targets[0].cluster,
    ).toBe("only");
  });

  it("refuses a bad list, naming the name", () => {
    refused(
      '{"targets":[{"clusters":[],"percentage":1}]}',
      "targets[0].clusters: must have 1 to 4 names, got 0",
    );
    refused(
      '{"targets":[{"clusters":["a","b","c","d","e"],"percentage":1}]}',
      "targets[0].clusters: must have 1 to 4 names, got 5",
    );
    refused(
      '{"targets":[{"clusters":"a","percentage":1}]}',
      "targets[0].clusters: must be an array, got a string",
    );
    refused(
      '{"targets":[{"clusters":["a",""],"percentage":1}]}',
      "targets[0].clusters[1]: must not be empty",
    );
    refused(
      '{"targets":[{"clusters":["a",7],"percentage":1}]}',
      "targets[0].clusters[1]: must be a string, got a number",
    );
    refused(
      '{"targets":[{"clusters":["a","b","a"],"percentage":1}]}',
      "targets[0].clusters[2]: is already clusters[0]",
    );
    refused(
      '{"targets":[{"clusters":["' + "k".repeat(1025) + '"],"percentage":1}]}',
      "targets[0].clusters[0]: must be at most 1024 characters",
    );
    refused(
      '{"targets":[{"cluster":"a","clusters":["b"],"percentage":1}]}',
      "targets[0].clusters: cannot be combined with cluster (give one)",
    );
    refused(
      '{"clusters":["a"],"percentage":1,"targets":[]}',
      'targets: cannot be combined with the shorthand "clusters" at the top level',
    );
    refused(
      '{"targets":[{"percentage":1}]}',
      "targets[0].cluster: is required",
    );
  });
});

describe("label", () => {
  it("names the target's metrics, its first cluster by default", () => {
    const cfg = accepted(
      '{"targets":[' +
        '{"cluster":"kitchen","percentage":1,"label":"orders"},' +
        '{"cluster":"kitchen","percentage":1,"label":"menu","match":{"path_prefix":"/menu"}},' +
        '{"cluster":"kitchen-v3","percentage":1},' +
        '{"clusters":["a","b"],"percentage":1},' +
        '{"cluster":"x","percentage":1,"label":"a;b"}]}',
    );
    expect<string>(cfg.targets[0].label).toBe("orders");
    expect<string>(cfg.targets[0].statName).toBe("orders");
    expect<string>(cfg.targets[0].cluster).toBe("kitchen");
    expect<string>(cfg.targets[1].label).toBe("menu");
    expect<string>(cfg.targets[1].cluster).toBe("kitchen");
    expect<string>(cfg.targets[2].label).toBe("kitchen-v3");
    expect<string>(cfg.targets[3].label).toBe("a");
    expect<string>(cfg.targets[4].label).toBe("a;b");
    expect<string>(cfg.targets[4].statName).toBe("a_b");
  });

  it("must be unique: refused with the field it comes from", () => {
    refused(
      '{"targets":[{"cluster":"a","percentage":1,"label":"x"},{"cluster":"b","percentage":1,"label":"x"}]}',
      "targets[1].label: is already the label of targets[0]",
    );
    refused(
      '{"targets":[{"cluster":"a","percentage":1,"label":"b"},{"cluster":"b","percentage":1}]}',
      "targets[1].cluster: is already the label of targets[0]",
    );
    refused(
      '{"targets":[{"cluster":"a","percentage":1},{"cluster":"b","percentage":1,"label":"a"}]}',
      "targets[1].label: is already the label of targets[0]",
    );
    refused(
      '{"targets":[{"cluster":"a","percentage":1},{"clusters":["a","c"],"percentage":1}]}',
      "targets[1].clusters[0]: is already the cluster of targets[0]",
    );
    refused(
      '{"targets":[{"cluster":"a","percentage":1,"label":"x;y"},{"cluster":"b","percentage":1,"label":"x_y"}]}',
      'targets[1].label: would have the same mirror_target label as targets[0] (";" becomes "_")',
    );
    refused(
      '{"targets":[{"cluster":"a","percentage":1,"label":""}]}',
      "targets[0].label: must not be empty",
    );
    refused(
      '{"targets":[{"cluster":"a","percentage":1,"label":5}]}',
      "targets[0].label: must be a string, got a number",
    );
    // a label that is another target's cluster name is fine when that target has its own label
    expect<i32>(
      accepted(
        '{"targets":[{"cluster":"a","percentage":1,"label":"one"},{"cluster":"b","percentage":1,"label":"a"}]}',
      ).targets.length,
    ).toBe(2);
  });
});

describe("match: forms", () => {
  it("is an object (all its conditions) or an array of 1 to 16 (any of them)", () => {
    const t = one(
      '"match":[{"path_exact":"/a"},{"path_prefix":"/b","method":"GET"}]',
    );
    expect<i32>(t.matches.length).toBe(2);
    expect<PathMatch>(t.matches[0].path).toBe(PathMatch.Exact);
    expect<PathMatch>(t.matches[1].path).toBe(PathMatch.Prefix);
    expect<string>(text(t.matches[1].methodBytes)).toBe("GET");
    const items: string[] = [];
    for (let i = 0; i < 16; i++)
      items.push('{"path_exact":"/' + i.toString() + '"}');
    expect<i32>(one('"match":[' + items.join(",") + "]").matches.length).toBe(
      16,
    );
    items.push('{"path_exact":"/x"}');
    refusedWith(
      '"match":[' + items.join(",") + "]",
      "targets[0].match: must have 1 to 16 objects, got 17",
    );
    refusedWith(
      '"match":[]',
      "targets[0].match: must have 1 to 16 objects, got 0",
    );
    refusedWith(
      '"match":[{"path_exact":"/a"},"/b"]',
      "targets[0].match[1]: must be an object, got a string",
    );
    refusedWith(
      '"match":true',
      "targets[0].match: must be an object or an array of objects, got a boolean",
    );
  });

  it("fits every request when one of its objects has no condition", () => {
    expect<i32>(one('"match":{}').matches.length).toBe(0);
    expect<i32>(one('"match":[{"path_exact":"/a"},{}]').matches.length).toBe(0);
    expect<bool>(fits('[{"path_exact":"/a"},{}]', get("/zzz"))).toBe(true);
  });

  it("names the field of an error inside an array", () => {
    refusedWith(
      '"match":[{"path_exact":"/a"},{"path_exact":"b"}]',
      'targets[0].match[1].path_exact: must start with "/", got "b"',
    );
    refusedWith(
      '"match":[{"path_exact":"/a"},{"pth_exact":"/b"}]',
      'targets[0].match[1].pth_exact: unknown field (did you mean "path_exact"?)',
    );
  });
});

describe("match: the path", () => {
  it("path_prefix: :path starts with it, query included, byte for byte (as before)", () => {
    const m = '{"path_prefix":"/orders"}';
    expect<bool>(fits(m, get("/orders"))).toBe(true);
    expect<bool>(fits(m, get("/ordersx"))).toBe(true);
    expect<bool>(fits(m, get("/orders?x"))).toBe(true);
    expect<bool>(fits(m, get("/Orders"))).toBe(false);
    expect<bool>(fits('{"path_prefix":"/a?b"}', get("/a?b=1"))).toBe(true);
  });

  it("path_exact: the path before ? equals it", () => {
    const m = '{"path_exact":"/orders"}';
    expect<bool>(fits(m, get("/orders"))).toBe(true);
    expect<bool>(fits(m, get("/orders?id=1"))).toBe(true);
    expect<bool>(fits(m, get("/orders#top"))).toBe(true);
    expect<bool>(fits(m, get("/orders/"))).toBe(false);
    expect<bool>(fits(m, get("/orders1"))).toBe(false);
    expect<bool>(fits(m, get("/order"))).toBe(false);
    expect<bool>(fits(m, get(""))).toBe(false);
    expect<bool>(fits('{"path_exact":"/"}', get("/?a"))).toBe(true);
    expect<bool>(fits('{"path_exact":"/"}', get("/a"))).toBe(false);
  });

  it("path_segment_prefix: Gateway API's PathPrefix, whole segments", () => {
    const m = '{"path_segment_prefix":"/percent-mirror"}';
    expect<bool>(fits(m, get("/percent-mirror"))).toBe(true);
    expect<bool>(fits(m, get("/percent-mirror/"))).toBe(true);
    expect<bool>(fits(m, get("/percent-mirror/x/y"))).toBe(true);
    expect<bool>(fits(m, get("/percent-mirror?q=1"))).toBe(true);
    expect<bool>(fits(m, get("/percent-mirror#f"))).toBe(true);
    expect<bool>(fits(m, get("/percent-mirror-fraction"))).toBe(false);
    expect<bool>(fits(m, get("/percent-mirrorx"))).toBe(false);
    expect<bool>(fits(m, get("/percent"))).toBe(false);
    expect<bool>(fits(m, get("/Percent-mirror"))).toBe(false);
    // a final "/" in the value does not count
    const slash = '{"path_segment_prefix":"/percent-mirror/"}';
    expect<bool>(fits(slash, get("/percent-mirror"))).toBe(true);
    expect<bool>(fits(slash, get("/percent-mirror/a"))).toBe(true);
    expect<bool>(fits(slash, get("/percent-mirror-fraction"))).toBe(false);
    const t = one('"match":' + slash);
    expect<string>(text(t.matches[0].pathBytes)).toBe("/percent-mirror");
    // "/" fits every path
    const root = '{"path_segment_prefix":"/"}';
    expect<PathMatch>(one('"match":' + root).matches[0].path).toBe(
      PathMatch.Any,
    );
    expect<bool>(fits(root, get("/anything/at?all"))).toBe(true);
    expect<bool>(fits(root, get(""))).toBe(true);
  });

  it("path_regex: the path before ? matches as a whole", () => {
    const m = '{"path_regex":"/api/v[0-9]+/orders/[0-9a-f]{8}"}';
    expect<bool>(fits(m, get("/api/v2/orders/deadbeef"))).toBe(true);
    expect<bool>(fits(m, get("/api/v2/orders/deadbeef?x=1"))).toBe(true);
    expect<bool>(fits(m, get("/api/v2/orders/deadbeef/"))).toBe(false);
    expect<bool>(fits(m, get("/x/api/v2/orders/deadbeef"))).toBe(false);
    expect<bool>(fits(m, get("/api/v/orders/deadbeef"))).toBe(false);
    expect<bool>(fits('{"path_regex":".*"}', get(""))).toBe(true);
    expect<bool>(fits('{"path_regex":"/caf\\u00e9"}', get("/café"))).toBe(true);
  });

  it("takes at most one path condition per object", () => {
    refusedWith(
      '"match":{"path_prefix":"/a","path_exact":"/a"}',
      "targets[0].match.path_exact: cannot be combined with path_prefix (one path condition per match object)",
    );
    refusedWith(
      '"match":{"path_regex":"/a","headers":{},"path_segment_prefix":"/a"}',
      "targets[0].match.path_segment_prefix: cannot be combined with path_regex (one path condition per match object)",
    );
  });

  it("refuses a path that cannot be one", () => {
    const noQuery =
      'must not contain "?" or "#" (the path is matched without its query)';
    refusedWith(
      '"match":{"path_exact":"/a?b"}',
      "targets[0].match.path_exact: " + noQuery,
    );
    refusedWith(
      '"match":{"path_segment_prefix":"/a#b"}',
      "targets[0].match.path_segment_prefix: " + noQuery,
    );
    refusedWith(
      '"match":{"path_exact":"a"}',
      'targets[0].match.path_exact: must start with "/", got "a"',
    );
    refusedWith(
      '"match":{"path_segment_prefix":""}',
      "targets[0].match.path_segment_prefix: must not be empty",
    );
    refusedWith(
      '"match":{"path_regex":1}',
      "targets[0].match.path_regex: must be a string, got a number",
    );
    refusedWith(
      '"match":{"path_regex":"/a(?=b)"}',
      "targets[0].match.path_regex: at character 3: lookahead (?= (?! is not supported",
    );
    refusedWith(
      '"match":{"path_regex":"/\\ud800"}',
      "targets[0].match.path_regex: must be valid Unicode (a lone surrogate escape)",
    );
    refusedWith(
      '"match":{"path_regex":"' + "a".repeat(1025) + '"}',
      "targets[0].match.path_regex: must be at most 1024 characters",
    );
  });
});

describe("match: headers, query and method", () => {
  it("headers: a string or {exact} is the exact value, {regex} the whole value", () => {
    const exact = '{"headers":{"X-Tenant":{"exact":"acme"}}}';
    expect<bool>(fits(exact, get("/").with("x-tenant", "acme"))).toBe(true);
    expect<bool>(fits(exact, get("/").with("x-tenant", "acme2"))).toBe(false);
    expect<bool>(fits(exact, get("/"))).toBe(false);
    const re = '{"headers":{"x-tenant":{"regex":"acme|globex-[a-z]{2}"}}}';
    expect<bool>(fits(re, get("/").with("x-tenant", "globex-eu"))).toBe(true);
    expect<bool>(fits(re, get("/").with("x-tenant", "acme"))).toBe(true);
    expect<bool>(fits(re, get("/").with("x-tenant", "xacme"))).toBe(false);
    expect<bool>(fits(re, get("/").with("x-tenant", "globex-eu1"))).toBe(false);
    expect<bool>(fits(re, get("/"))).toBe(false);
    // an absent header never fits, even a pattern that takes the empty value
    const empty = '{"headers":{"x-flag":{"regex":".*"}}}';
    expect<bool>(fits(empty, get("/"))).toBe(false);
    expect<bool>(fits(empty, get("/").with("x-flag", ""))).toBe(true);
    const m = one('"match":' + re).matches[0];
    expect<string>(m.headers[0].name).toBe("x-tenant");
    expect<bool>(m.headers[0].regex !== null).toBe(true);
  });

  it("query: the raw value of the first parameter of that name", () => {
    const exact = '{"query":{"id":"a%20b"}}';
    expect<bool>(fits(exact, get("/x?id=a%20b"))).toBe(true);
    expect<bool>(fits(exact, get("/x?id=a b"))).toBe(false);
    expect<bool>(fits(exact, get("/x?other=1&id=a%20b"))).toBe(true);
    expect<bool>(fits(exact, get("/x?id=a%20b&id=c"))).toBe(true);
    expect<bool>(fits(exact, get("/x?id=c&id=a%20b"))).toBe(false);
    expect<bool>(fits(exact, get("/x?xid=a%20b"))).toBe(false);
    expect<bool>(fits(exact, get("/x#?id=a%20b"))).toBe(false);
    expect<bool>(fits(exact, get("/x"))).toBe(false);
    const re = '{"query":{"v":{"regex":"[0-9]+"}}}';
    expect<bool>(fits(re, get("/?v=12"))).toBe(true);
    expect<bool>(fits(re, get("/?v=12#frag"))).toBe(true);
    expect<bool>(fits(re, get("/?v=1x"))).toBe(false);
    expect<bool>(fits(re, get("/?v="))).toBe(false);
    // a parameter without a value is present and empty
    const empty = '{"query":{"debug":{"exact":""}}}';
    expect<bool>(fits(empty, get("/?debug"))).toBe(true);
    expect<bool>(fits(empty, get("/?debug="))).toBe(true);
    expect<bool>(fits(empty, get("/?debug=1"))).toBe(false);
    expect<bool>(fits(empty, get("/"))).toBe(false);
  });

  it("queryParam finds the first parameter of a name, with or without a value", () => {
    const out = new KeySpan();
    expect<bool>(
      queryParam(new KeySpan().of(utf8("/p?a=1&b&a=2")), utf8("b"), out),
    ).toBe(true);
    expect<i32>(out.len).toBe(0);
    expect<bool>(
      queryParam(new KeySpan().of(utf8("/p?a=1&b&a=2")), utf8("a"), out),
    ).toBe(true);
    expect<string>(String.UTF8.decodeUnsafe(out.ptr, out.len)).toBe("1");
    expect<bool>(
      queryParam(new KeySpan().of(utf8("/p?a=x=y")), utf8("a"), out),
    ).toBe(true);
    expect<string>(String.UTF8.decodeUnsafe(out.ptr, out.len)).toBe("x=y");
    expect<bool>(queryParam(new KeySpan().of(utf8("/p")), utf8("a"), out)).toBe(
      false,
    );
    expect<bool>(
      queryParam(new KeySpan().of(utf8("/p?")), utf8("a"), out),
    ).toBe(false);
    expect<bool>(
      queryParam(new KeySpan().of(utf8("/p?&&a")), utf8("a"), out),
    ).toBe(true);
    expect<bool>(queryParam(new KeySpan().of(utf8("")), utf8("a"), out)).toBe(
      false,
    );
  });

  it("method: the request's :method exactly", () => {
    const m = '{"method":"POST","path_prefix":"/orders"}';
    expect<bool>(fits(m, new Req("POST", "/orders/1"))).toBe(true);
    expect<bool>(fits(m, new Req("GET", "/orders/1"))).toBe(false);
    expect<bool>(fits(m, new Req("post", "/orders/1"))).toBe(false);
    expect<bool>(fits(m, new Req("POST", "/menu"))).toBe(false);
  });

  it("needs every condition of an object, any object of an array", () => {
    const all =
      '{"path_segment_prefix":"/api","headers":{"x-t":"a","x-r":{"regex":"eu|us"}},"query":{"v":"2"},"method":"GET"}';
    const req = get("/api/x?v=2").with("x-t", "a").with("x-r", "eu");
    expect<bool>(fits(all, req)).toBe(true);
    expect<bool>(
      fits(all, get("/api/x?v=3").with("x-t", "a").with("x-r", "eu")),
    ).toBe(false);
    expect<bool>(
      fits(all, get("/api/x?v=2").with("x-t", "a").with("x-r", "asia")),
    ).toBe(false);
    expect<bool>(
      fits(all, get("/apix?v=2").with("x-t", "a").with("x-r", "eu")),
    ).toBe(false);
    const any =
      '[{"path_exact":"/a"},{"headers":{"x-t":"b"}},{"query":{"c":{"regex":".+"}}}]';
    expect<bool>(fits(any, get("/a"))).toBe(true);
    expect<bool>(fits(any, get("/z").with("x-t", "b"))).toBe(true);
    expect<bool>(fits(any, get("/z?c=1"))).toBe(true);
    expect<bool>(fits(any, get("/z?c="))).toBe(false);
    expect<bool>(fits(any, get("/z"))).toBe(false);
  });

  it("refuses bad conditions, naming them", () => {
    const form =
      'must be a string (exact value) or an object {"exact": "…"} or {"regex": "…"}, got ';
    refusedWith(
      '"match":{"headers":{"x-a":["b"]}}',
      "targets[0].match.headers.x-a: " + form + "an array",
    );
    refusedWith(
      '"match":{"headers":{"x-a":{}}}',
      'targets[0].match.headers.x-a: must have exactly one of "exact" and "regex"',
    );
    refusedWith(
      '"match":{"headers":{"x-a":{"exact":"a","regex":"a"}}}',
      'targets[0].match.headers.x-a: must have exactly one of "exact" and "regex"',
    );
    refusedWith(
      '"match":{"headers":{"x-a":{"regexp":"a"}}}',
      'targets[0].match.headers.x-a.regexp: unknown field (did you mean "regex"?)',
    );
    refusedWith(
      '"match":{"headers":{"x-a":{"exact":1}}}',
      "targets[0].match.headers.x-a.exact: must be a string, got a number",
    );
    refusedWith(
      '"match":{"headers":{"x-a":{"regex":"a{2"}}}',
      'targets[0].match.headers.x-a.regex: at character 2: "{" must start a count {n}, {n,} or {n,m} after what it repeats (a literal one: \\{)',
    );
    refusedWith(
      '"match":{"headers":{"x a":"b"}}',
      'targets[0].match.headers."x a": must be a valid lower-case HTTP header name, got "x a"',
    );
    refusedWith(
      '"match":{"query":{"a=b":"c"}}',
      'targets[0].match.query."a=b": must be a query parameter name (no "&", "=" or "#"), got "a=b"',
    );
    refusedWith(
      '"match":{"query":{"":"c"}}',
      'targets[0].match.query."": must be a query parameter name (no "&", "=" or "#"), got ""',
    );
    refusedWith(
      '"match":{"query":{"v":{"regex":"\\\\p{L}"}}}',
      "targets[0].match.query.v.regex: at character 1: Unicode classes \\p{…} are not supported",
    );
    refusedWith(
      '"match":{"query":[]}',
      "targets[0].match.query: must be an object, got an array",
    );
    refusedWith(
      '"match":{"method":"get"}',
      'targets[0].match.method: must be an upper-case HTTP method token, got "get"',
    );
    refusedWith(
      '"match":{"method":["GET"]}',
      "targets[0].match.method: must be a string, got an array",
    );
  });
});

describe("every error of a configuration", () => {
  it("is reported in order, the first as the error", () => {
    const r = parseConfig(
      '{"targets":[{"cluster":"a","percentge":5,"match":{"path_exact":"x","method":"get"}},{"cluster":"b","percentage":500}],"colour":1,"max_inflight":0,"compare":{"body":"yes","ignore":["/a"]}}',
    );
    expect<Config | null>(r.config).toBeNull();
    expect<string>(r.errors.join("\n")).toBe(
      [
        "colour: unknown field (known: targets, sampling, methods, method_override, unsafe_paths, marker, headers, max_body_bytes, max_inflight, max_buffered_bytes, compare)",
        'targets[0].percentge: unknown field (did you mean "percentage"?)',
        'targets[0].match.path_exact: must start with "/", got "x"',
        'targets[0].match.method: must be an upper-case HTTP method token, got "get"',
        "targets[1].percentage: must be between 0 and 100, got 500",
        "max_inflight: must be between 1 and 100000, got 0",
        'compare.body: must be false, "exact" or "json" (true means "exact"), got "yes"',
      ].join("\n"),
    );
    expect<string>(r.error).toBe(r.errors[0]);
  });

  it("lists at most MAX_ERRORS, then how many more", () => {
    const bad: string[] = [];
    for (let i = 0; i < 40; i++) bad.push('"m' + i.toString() + '":1');
    const r = parseConfig(
      '{"cluster":"a","percentage":1,' + bad.join(",") + "}",
    );
    expect<i32>(r.errors.length).toBe(MAX_ERRORS + 1);
    expect<string>(r.errors[MAX_ERRORS]).toBe(
      "configuration: 8 more error(s) not shown",
    );
  });

  it("says a target field next to targets belongs in the targets", () => {
    refused(
      '{"targets":[{"cluster":"a","percentage":1}],"label":"x"}',
      "label: unknown field at the top level (a target field: set it in each target)",
    );
  });

  it("gives one error for a missing field an unknown one was taken for", () => {
    const r = parseConfig('{"targets":[{"clustr":"a","percentage":1}]}');
    expect<string>(r.errors.join("\n")).toBe(
      'targets[0].clustr: unknown field (did you mean "cluster"?)',
    );
    const s = parseConfig('{"targts":[{"cluster":"a","percentage":1}]}');
    expect<string>(s.errors.join("\n")).toBe(
      'targts: unknown field (did you mean "targets"?)',
    );
  });
});

describe("cluster order", () => {
  it("tries the name in use, then the others in their configured order", () => {
    const order = (inUse: i32, n: i32): string => {
      const seen: string[] = [];
      for (let k = 0; k < n; k++) seen.push(clusterToTry(inUse, k).toString());
      return seen.join(",");
    };
    expect<string>(order(0, 1)).toBe("0");
    expect<string>(order(0, 4)).toBe("0,1,2,3");
    expect<string>(order(1, 4)).toBe("1,0,2,3");
    expect<string>(order(2, 4)).toBe("2,0,1,3");
    expect<string>(order(3, 4)).toBe("3,0,1,2");
  });
});
