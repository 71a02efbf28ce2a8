// RequestDecision and its helpers: target match, loop guard and strip (any
// spelling), method safety with unsafe_paths and method overrides, sampling-key
// sources (header, cookie, query, path) and the bucket-vs-threshold decision. Buckets are checked against
// bucketOf, itself checked against the XXH64 reference in sampler.spec.ts.

import { Config, parseConfig } from "../../assembly/config";
import {
  KeySpan,
  RequestDecision,
  RequestView,
  Skip,
  findCookie,
  findKey,
  findPath,
  findQuery,
  methodAllowed,
  targetMatches,
} from "../../assembly/policy";
import { bucketOf } from "../../assembly/sampler";

function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

/** A span over the UTF-8 bytes of `s` (its own buffer). */
function span(s: string): KeySpan {
  return new KeySpan().of(utf8(s));
}

/** A request whose headers live in a Map; records every header read. */
class MapView extends RequestView {
  headers: Map<string, ArrayBuffer> = new Map();
  reads: string[] = [];

  set(name: string, value: string): MapView {
    this.headers.set(name, utf8(value));
    return this;
  }

  setBytes(name: string, value: ArrayBuffer): MapView {
    this.headers.set(name, value);
    return this;
  }

  header(name: ArrayBuffer): ArrayBuffer | null {
    const n = String.UTF8.decode(name);
    this.reads.push(n);
    return this.headers.has(n) ? this.headers.get(n) : null;
  }

  headerLike(name: ArrayBuffer): bool {
    const n = String.UTF8.decode(name).replaceAll("_", "-");
    this.reads.push(n + "~");
    const keys = this.headers.keys();
    for (let i = 0; i < keys.length; i++) {
      if (keys[i].toLowerCase().replaceAll("_", "-") == n) return true;
    }
    return false;
  }

  read(name: string): bool {
    return this.reads.includes(name);
  }
}

function request(method: string, path: string): MapView {
  return new MapView().set(":method", method).set(":path", path);
}

/** GET `path` with x-request-id `id`. */
function get(path: string, id: string): MapView {
  return request("GET", path).set("x-request-id", id);
}

function config(json: string): Config {
  const r = parseConfig(json);
  expect<string>(r.error).toBe("", json);
  return r.config!;
}

/** One target "dark" at `pct`% plus `extra` top-level members. */
function simple(pct: string, extra: string): Config {
  const t = '"targets":[{"cluster":"dark","percentage":' + pct + "}]";
  return config(extra.length > 0 ? "{" + t + "," + extra + "}" : "{" + t + "}");
}

/** The first target whose match fits, and the per-target decision for it. */
class Decision {
  target: i32 = -1;
  reason: Skip = Skip.NotMatched;
  bucket: u32 = 0;
  stripMarker: bool = false;
}

/**
 * RequestDecision's answers, target by target, up to the first target whose match fits (the
 * filter asks every target; the cases here look at one).
 */
function decide(cfg: Config, req: RequestView): Decision {
  const rd = new RequestDecision(cfg.saltPrefixes.length);
  rd.begin(cfg, req);
  const d = new Decision();
  d.stripMarker = rd.stripMarker;
  for (let i = 0; i < cfg.targets.length; i++) {
    const t = cfg.targets[i];
    const r = rd.decide(cfg, t, req);
    if (r == Skip.NotMatched) continue;
    d.target = i;
    d.reason = r;
    if (r == Skip.None || r == Skip.SampledOut) {
      d.bucket = rd.bucketOf(cfg, t.saltGroup);
    }
    return d;
  }
  return d;
}

function reasonOf(cfg: Config, req: RequestView): Skip {
  return decide(cfg, req).reason;
}

function spanText(s: KeySpan): string {
  return String.UTF8.decodeUnsafe(s.ptr, <usize>s.len);
}

/** The cookie's value, or "<absent>". */
function cookie(header: string, name: string): string {
  const s = new KeySpan();
  return findCookie(span(header), utf8(name), s) ? spanText(s) : "<absent>";
}

/** The query parameter's value, or "<absent>". */
function query(path: string, name: string): string {
  const s = new KeySpan();
  return findQuery(span(path), utf8(name), s) ? spanText(s) : "<absent>";
}

/** The path key, or "<absent>". */
function pathKey(path: string): string {
  const s = new KeySpan();
  return findPath(span(path), s) ? spanText(s) : "<absent>";
}

describe("target match", () => {
  it("reports NotMatched and target -1 when no target fits", () => {
    const cfg = config(
      '{"targets":[{"cluster":"a","percentage":100,"match":{"path_prefix":"/orders"}}]}',
    );
    const d = decide(cfg, get("/users/1", "req-0001"));
    expect<Skip>(d.reason).toBe(Skip.NotMatched);
    expect<i32>(d.target).toBe(-1);
    expect<u32>(d.bucket).toBe(0);
    expect<bool>(d.stripMarker).toBe(false);
  });

  it("matches a path prefix byte for byte", () => {
    const cfg = config(
      '{"targets":[{"cluster":"a","percentage":100,"match":{"path_prefix":"/orders"}}]}',
    );
    expect<Skip>(reasonOf(cfg, get("/orders", "r"))).toBe(Skip.None);
    expect<Skip>(reasonOf(cfg, get("/orders/42?x=1", "r"))).toBe(Skip.None);
    expect<Skip>(reasonOf(cfg, get("/ordersx", "r"))).toBe(Skip.None);
    expect<Skip>(reasonOf(cfg, get("/Orders", "r"))).toBe(Skip.NotMatched);
    expect<Skip>(reasonOf(cfg, get("/order", "r"))).toBe(Skip.NotMatched);
    expect<Skip>(reasonOf(cfg, get("", "r"))).toBe(Skip.NotMatched);
    const noPath = new MapView().set(":method", "GET").set("x-request-id", "r");
    expect<Skip>(reasonOf(cfg, noPath)).toBe(Skip.NotMatched);
  });

  it("matches every request when a target has no match", () => {
    const cfg = simple("100", "");
    expect<Skip>(reasonOf(cfg, get("/anything", "r"))).toBe(Skip.None);
    const noPath = new MapView().set(":method", "GET").set("x-request-id", "r");
    expect<Skip>(reasonOf(cfg, noPath)).toBe(Skip.None);
  });

  it("matches header values exactly, all of them", () => {
    const cfg = config(
      '{"targets":[{"cluster":"a","percentage":100,"match":{"headers":{"X-Tenant":"acme","x-region":"eu"}}}]}',
    );
    const both = get("/", "r").set("x-tenant", "acme").set("x-region", "eu");
    expect<Skip>(reasonOf(cfg, both)).toBe(Skip.None);
    expect<Skip>(reasonOf(cfg, get("/", "r").set("x-tenant", "acme"))).toBe(
      Skip.NotMatched,
    );
    expect<Skip>(
      reasonOf(
        cfg,
        get("/", "r").set("x-tenant", "ACME").set("x-region", "eu"),
      ),
    ).toBe(Skip.NotMatched);
    expect<Skip>(
      reasonOf(
        cfg,
        get("/", "r").set("x-tenant", "acme ").set("x-region", "eu"),
      ),
    ).toBe(Skip.NotMatched);
    expect<Skip>(
      reasonOf(cfg, get("/", "r").set("x-tenant", "acm").set("x-region", "eu")),
    ).toBe(Skip.NotMatched);
  });

  it("matches an empty header value only when the header is present", () => {
    const cfg = config(
      '{"targets":[{"cluster":"a","percentage":100,"match":{"headers":{"x-flag":""}}}]}',
    );
    expect<Skip>(reasonOf(cfg, get("/", "r").set("x-flag", ""))).toBe(
      Skip.None,
    );
    expect<Skip>(reasonOf(cfg, get("/", "r"))).toBe(Skip.NotMatched);
  });

  it("matches path prefix and headers together", () => {
    const cfg = config(
      '{"targets":[{"cluster":"a","percentage":100,"match":{"path_prefix":"/api","headers":{"x-tenant":"acme"}}}]}',
    );
    expect<Skip>(
      reasonOf(cfg, get("/api/x", "r").set("x-tenant", "acme")),
    ).toBe(Skip.None);
    expect<Skip>(reasonOf(cfg, get("/web", "r").set("x-tenant", "acme"))).toBe(
      Skip.NotMatched,
    );
    expect<Skip>(reasonOf(cfg, get("/api/x", "r"))).toBe(Skip.NotMatched);
  });

  it("chooses the first target whose match fits", () => {
    const cfg = config(
      '{"targets":[' +
        '{"cluster":"a","percentage":100,"match":{"path_prefix":"/a"}},' +
        '{"cluster":"b","percentage":100,"match":{"headers":{"x-tenant":"acme"}}},' +
        '{"cluster":"c","percentage":100}' +
        "]}",
    );
    expect<i32>(decide(cfg, get("/a/1", "r")).target).toBe(0);
    expect<i32>(
      decide(cfg, get("/a/1", "r").set("x-tenant", "acme")).target,
    ).toBe(0);
    expect<i32>(
      decide(cfg, get("/b", "r").set("x-tenant", "acme")).target,
    ).toBe(1);
    expect<i32>(decide(cfg, get("/b", "r")).target).toBe(2);
  });

  it("uses the chosen target's salt and threshold, not another's", () => {
    const cfg = config(
      '{"targets":[' +
        '{"cluster":"a","percentage":0,"salt":"per","match":{"path_prefix":"/a"}},' +
        '{"cluster":"b","percentage":100}' +
        '],"sampling":{"salt":"top"}}',
    );
    let d = decide(cfg, get("/a", "req-0001"));
    expect<i32>(d.target).toBe(0);
    expect<Skip>(d.reason).toBe(Skip.SampledOut);
    expect<u32>(d.bucket).toBe(285206);
    d = decide(cfg, get("/b", "req-0001"));
    expect<i32>(d.target).toBe(1);
    expect<Skip>(d.reason).toBe(Skip.None);
    expect<u32>(d.bucket).toBe(793407);
  });

  it("targetMatches reads only the headers its match names", () => {
    const cfg = config(
      '{"targets":[{"cluster":"a","percentage":1,"match":{"path_prefix":"/a","headers":{"x-t":"1"}}}]}',
    );
    const req = new MapView().set("x-t", "1").set("x-other", "2");
    expect<bool>(targetMatches(cfg.targets[0], span("/a/b"), req)).toBe(true);
    expect<string>(req.reads.join(",")).toBe("x-t");
    const miss = new MapView().set("x-t", "1");
    expect<bool>(targetMatches(cfg.targets[0], span("/b"), miss)).toBe(false);
    expect<i32>(miss.reads.length).toBe(0);
  });
});

describe("loop guard", () => {
  it("skips a request that carries the marker, whatever its value", () => {
    const cfg = simple("100", "");
    let d = decide(cfg, get("/", "req-0001").set("x-shadow", "true"));
    expect<Skip>(d.reason).toBe(Skip.Loop);
    expect<i32>(d.target).toBe(0);
    expect<bool>(d.stripMarker).toBe(false);
    expect<Skip>(reasonOf(cfg, get("/", "r").set("x-shadow", "false"))).toBe(
      Skip.Loop,
    );
    expect<Skip>(reasonOf(cfg, get("/", "r").set("x-shadow", ""))).toBe(
      Skip.Loop,
    );
  });

  it("uses the configured marker header", () => {
    const cfg = simple("100", '"marker":{"header":"x-dark","value":"1"}');
    expect<Skip>(reasonOf(cfg, get("/", "r").set("x-dark", "1"))).toBe(
      Skip.Loop,
    );
    expect<Skip>(reasonOf(cfg, get("/", "r").set("x-shadow", "true"))).toBe(
      Skip.None,
    );
  });

  it("reports NotMatched before Loop when no target fits", () => {
    const cfg = config(
      '{"targets":[{"cluster":"a","percentage":100,"match":{"path_prefix":"/a"}}]}',
    );
    const d = decide(cfg, get("/b", "r").set("x-shadow", "true"));
    expect<Skip>(d.reason).toBe(Skip.NotMatched);
    expect<i32>(d.target).toBe(-1);
  });

  it("does not read method or key of a looped request", () => {
    const cfg = simple("100", "");
    const req = get("/", "r").set("x-shadow", "true");
    decide(cfg, req);
    expect<bool>(req.read(":method")).toBe(false);
    expect<bool>(req.read("x-request-id")).toBe(false);
  });
});

describe("strip mode", () => {
  it("asks to strip a client-supplied marker and still considers the request", () => {
    const cfg = simple("100", '"marker":{"inbound":"strip"}');
    const d = decide(cfg, get("/", "req-0001").set("x-shadow", "true"));
    expect<bool>(d.stripMarker).toBe(true);
    expect<Skip>(d.reason).toBe(Skip.None);
    expect<i32>(d.target).toBe(0);
    expect<u32>(d.bucket).toBe(902411);
  });

  it("still applies every other rule to a stripped request", () => {
    const cfg = simple("0", '"marker":{"inbound":"strip"}');
    let d = decide(cfg, get("/", "req-0001").set("x-shadow", "1"));
    expect<bool>(d.stripMarker).toBe(true);
    expect<Skip>(d.reason).toBe(Skip.SampledOut);
    d = decide(cfg, request("POST", "/").set("x-shadow", "1"));
    expect<bool>(d.stripMarker).toBe(true);
    expect<Skip>(d.reason).toBe(Skip.Method);
  });

  it("strips even when no target matches", () => {
    const cfg = config(
      '{"targets":[{"cluster":"a","percentage":100,"match":{"path_prefix":"/a"}}],"marker":{"inbound":"strip"}}',
    );
    const d = decide(cfg, get("/b", "r").set("x-shadow", "true"));
    expect<bool>(d.stripMarker).toBe(true);
    expect<Skip>(d.reason).toBe(Skip.NotMatched);
  });

  it("does not strip when the marker is absent, nor in skip mode", () => {
    const strip = simple("100", '"marker":{"inbound":"strip"}');
    expect<bool>(decide(strip, get("/", "r")).stripMarker).toBe(false);
    const skip = simple("100", '"marker":{"inbound":"skip"}');
    expect<bool>(
      decide(skip, get("/", "r").set("x-shadow", "1")).stripMarker,
    ).toBe(false);
  });

  it("starts every decision afresh", () => {
    const cfg = simple("100", '"marker":{"inbound":"strip"}');
    decide(cfg, get("/", "r").set("x-shadow", "1"));
    const d = decide(cfg, request("GET", "/"));
    expect<bool>(d.stripMarker).toBe(false);
    expect<Skip>(d.reason).toBe(Skip.NoKey);
    expect<u32>(d.bucket).toBe(0);
  });
});

describe("methods", () => {
  it("mirrors GET, HEAD and OPTIONS by default", () => {
    const cfg = simple("100", "");
    const safe: string[] = ["GET", "HEAD", "OPTIONS"];
    for (let i = 0; i < safe.length; i++) {
      expect<Skip>(
        reasonOf(cfg, request(safe[i], "/").set("x-request-id", "r")),
      ).toBe(Skip.None, safe[i]);
    }
  });

  it("refuses unsafe and unknown methods by default", () => {
    const cfg = simple("100", "");
    const unsafe: string[] = [
      "POST",
      "PUT",
      "PATCH",
      "DELETE",
      "CONNECT",
      "TRACE",
      "get",
      "GETX",
      "GE",
      "",
    ];
    for (let i = 0; i < unsafe.length; i++) {
      expect<Skip>(
        reasonOf(cfg, request(unsafe[i], "/").set("x-request-id", "r")),
      ).toBe(Skip.Method, unsafe[i]);
    }
    const noMethod = new MapView().set(":path", "/").set("x-request-id", "r");
    expect<Skip>(reasonOf(cfg, noMethod)).toBe(Skip.Method);
  });

  it("follows a configured method list", () => {
    const cfg = simple("100", '"methods":["GET","POST"]');
    expect<Skip>(
      reasonOf(cfg, request("POST", "/").set("x-request-id", "r")),
    ).toBe(Skip.None);
    expect<Skip>(
      reasonOf(cfg, request("HEAD", "/").set("x-request-id", "r")),
    ).toBe(Skip.Method);
    const none = simple("100", '"methods":[]');
    expect<Skip>(reasonOf(none, get("/", "r"))).toBe(Skip.Method);
  });

  it("makes an unsafe_paths exception exactly by method and path prefix", () => {
    const cfg = simple(
      "100",
      '"unsafe_paths":[{"methods":["POST"],"path_prefix":"/catalog.Reader/"},{"methods":["PUT","DELETE"],"path_prefix":"/cache/"}]',
    );
    const cases: string[] = [
      "POST /catalog.Reader/Get",
      "y",
      "POST /catalog.Reader/",
      "y",
      "POST /catalog.Reader",
      "n",
      "POST /catalog.Writer/Put",
      "n",
      "POST /x/catalog.Reader/Get",
      "n",
      "PUT /catalog.Reader/Get",
      "n",
      "PATCH /catalog.Reader/Get",
      "n",
      "PUT /cache/k",
      "y",
      "DELETE /cache/k",
      "y",
      "POST /cache/k",
      "n",
      "GET /anywhere",
      "y",
    ];
    for (let i = 0; i < cases.length; i += 2) {
      const sp = cases[i].indexOf(" ");
      const req = request(
        cases[i].substring(0, sp),
        cases[i].substring(sp + 1),
      ).set("x-request-id", "r");
      expect<Skip>(reasonOf(cfg, req)).toBe(
        cases[i + 1] == "y" ? Skip.None : Skip.Method,
        cases[i],
      );
    }
  });

  it("allows unsafe_paths with an empty method list", () => {
    const cfg = simple(
      "100",
      '"methods":[],"unsafe_paths":[{"methods":["POST"],"path_prefix":"/rpc/"}]',
    );
    expect<Skip>(
      reasonOf(cfg, request("POST", "/rpc/x").set("x-request-id", "r")),
    ).toBe(Skip.None);
    expect<Skip>(reasonOf(cfg, get("/rpc/x", "r"))).toBe(Skip.Method);
  });

  it("methodAllowed compares whole methods", () => {
    const cfg = simple(
      "1",
      '"unsafe_paths":[{"methods":["POST"],"path_prefix":"/a"}]',
    );
    expect<bool>(methodAllowed(cfg, span("GET"), span("/"))).toBe(true);
    expect<bool>(methodAllowed(cfg, span("GETS"), span("/"))).toBe(false);
    expect<bool>(methodAllowed(cfg, span("POS"), span("/a"))).toBe(false);
    expect<bool>(methodAllowed(cfg, span("POST"), span("/a"))).toBe(true);
    expect<bool>(methodAllowed(cfg, span("POST"), span(""))).toBe(false);
  });

  it("does not read the key of a request refused by method", () => {
    const cfg = simple("100", "");
    const req = request("POST", "/").set("x-request-id", "r");
    decide(cfg, req);
    expect<bool>(req.read("x-request-id")).toBe(false);
  });
});

const KEYS =
  '"sampling":{"keys":["header:x-user-id","cookie:session","query:uid","path"]}';

describe("sampling key sources", () => {
  it("takes the first present source, in order", () => {
    const cfg = simple("100", KEYS);
    const all = get("/orders/42?uid=abc123", "r")
      .set("x-user-id", "user-1")
      .set("cookie", "session=sess-7");
    expect<u32>(decide(cfg, all).bucket).toBe(bucketOf("", "user-1"));
    const noHeader = get("/orders/42?uid=abc123", "r").set(
      "cookie",
      "session=sess-7",
    );
    expect<u32>(decide(cfg, noHeader).bucket).toBe(bucketOf("", "sess-7"));
    const queryOnly = get("/orders/42?uid=abc123", "r");
    expect<u32>(decide(cfg, queryOnly).bucket).toBe(bucketOf("", "abc123"));
    const pathOnly = get("/orders/42?x=1", "r");
    expect<u32>(decide(cfg, pathOnly).bucket).toBe(260792);
  });

  it("counts an empty value as absent", () => {
    const cfg = simple("100", KEYS);
    const req = get("/orders/42?uid=", "r")
      .set("x-user-id", "")
      .set("cookie", "session=");
    expect<u32>(decide(cfg, req).bucket).toBe(260792);
  });

  it("reports NoKey when no source is present", () => {
    const cfg = simple(
      "100",
      '"sampling":{"keys":["header:x-user-id","cookie:session","query:uid"]}',
    );
    const d = decide(
      cfg,
      get("/orders?other=1", "r").set("cookie", "other=1").set("x-user-id", ""),
    );
    expect<Skip>(d.reason).toBe(Skip.NoKey);
    expect<i32>(d.target).toBe(0);
    expect<u32>(d.bucket).toBe(0);
  });

  it("reports NoKey without x-request-id under the default keys", () => {
    const cfg = simple("100", "");
    expect<Skip>(reasonOf(cfg, request("GET", "/"))).toBe(Skip.NoKey);
    expect<Skip>(reasonOf(cfg, get("/", ""))).toBe(Skip.NoKey);
    expect<Skip>(reasonOf(cfg, get("/", "r"))).toBe(Skip.None);
  });

  it("reports NoKey for a path key when :path is missing or only a query", () => {
    const cfg = simple("100", '"sampling":{"keys":["path"]}');
    expect<Skip>(reasonOf(cfg, request("GET", "?a=1"))).toBe(Skip.NoKey);
    expect<Skip>(reasonOf(cfg, new MapView().set(":method", "GET"))).toBe(
      Skip.NoKey,
    );
  });

  it("reads a pseudo-header key", () => {
    const cfg = simple("100", '"sampling":{"keys":["header::authority"]}');
    expect<u32>(
      decide(cfg, get("/", "r").set(":authority", "user-1")).bucket,
    ).toBe(716205);
  });

  it("hashes header key bytes as they are, non-UTF-8 included", () => {
    const cfg = simple("100", '"sampling":{"keys":["header:x-user-id"]}');
    const req = get("/", "r").set("x-user-id", "日本語");
    expect<u32>(decide(cfg, req).bucket).toBe(bucketOf("", "日本語"));
    const raw = new Uint8Array(3);
    raw[0] = 0xff;
    raw[1] = 0x00;
    raw[2] = 0x80;
    expect<Skip>(
      reasonOf(cfg, get("/", "r").setBytes("x-user-id", raw.buffer)),
    ).toBe(Skip.None);
  });

  it("findKey fills the span of the first present source", () => {
    const cfg = simple("1", KEYS);
    const s = new KeySpan();
    expect<bool>(
      findKey(
        cfg.keys,
        span("/p?uid=q1"),
        new MapView().set("cookie", "a=1"),
        s,
      ),
    ).toBe(true);
    expect<string>(spanText(s)).toBe("q1");
    expect<bool>(
      findKey(
        cfg.keys,
        span("/p"),
        new MapView().set("cookie", "session=c1"),
        s,
      ),
    ).toBe(true);
    expect<string>(spanText(s)).toBe("c1");
    expect<bool>(findKey(cfg.keys, span(""), new MapView(), s)).toBe(false);
  });
});

describe("cookie parsing", () => {
  it("finds a cookie among several, with or without spaces", () => {
    expect<string>(cookie("session=abc", "session")).toBe("abc");
    expect<string>(cookie("a=1; session=abc; b=2", "session")).toBe("abc");
    expect<string>(cookie("a=1;session=abc;b=2", "session")).toBe("abc");
    expect<string>(cookie("  session = abc  ", "session")).toBe("abc");
    expect<string>(cookie("a=1;\tsession=abc\t", "session")).toBe("abc");
    expect<string>(cookie(";; session=v ;;", "session")).toBe("v");
    expect<string>(cookie("a=1; b=2; session=last", "session")).toBe("last");
  });

  it("takes the first cookie of that name", () => {
    expect<string>(cookie("session=a; session=b", "session")).toBe("a");
  });

  it("does not confuse a name with a longer or shorter one", () => {
    expect<string>(cookie("xsession=a; session=b", "session")).toBe("b");
    expect<string>(cookie("session2=a; session=b", "session")).toBe("b");
    expect<string>(cookie("my_session=a", "session")).toBe("<absent>");
    expect<string>(cookie("sessionx=a", "session")).toBe("<absent>");
    expect<string>(cookie("sess=a", "session")).toBe("<absent>");
  });

  it("is case-sensitive in the name", () => {
    expect<string>(cookie("Session=a", "session")).toBe("<absent>");
    expect<string>(cookie("Session=a", "Session")).toBe("a");
  });

  it("unquotes a quoted value (RFC 6265, as Envoy) and keeps '=' inside the value", () => {
    expect<string>(cookie('session="abc"', "session")).toBe("abc");
    expect<string>(cookie('session="', "session")).toBe('"');
    expect<string>(cookie('session=""; session=b', "session")).toBe("b");
    expect<string>(cookie("session=a=b==", "session")).toBe("a=b==");
  });

  it("takes a later non-empty cookie of the same name, as query parameters do", () => {
    expect<string>(cookie("session=; session=b", "session")).toBe("b");
  });

  it("treats an empty value, or a segment without '=', as absent", () => {
    expect<string>(cookie("session=", "session")).toBe("<absent>");
    expect<string>(cookie("session=   ", "session")).toBe("<absent>");
    expect<string>(cookie("session=; other=1", "session")).toBe("<absent>");
    expect<string>(cookie("session", "session")).toBe("<absent>");
    expect<string>(cookie("session; session=b", "session")).toBe("b");
    expect<string>(cookie("", "session")).toBe("<absent>");
    expect<string>(cookie(";;;", "session")).toBe("<absent>");
    expect<string>(cookie("=v", "session")).toBe("<absent>");
  });

  it("matches a name with inner spaces", () => {
    expect<string>(cookie("my cookie=v", "my cookie")).toBe("v");
  });

  it("keeps non-ASCII values", () => {
    expect<string>(cookie("session=ключ; x=1", "session")).toBe("ключ");
  });
});

describe("query parsing", () => {
  it("finds a parameter among several", () => {
    expect<string>(query("/p?uid=42", "uid")).toBe("42");
    expect<string>(query("/p?a=1&uid=42&b=2", "uid")).toBe("42");
    expect<string>(query("/p?a=1&uid=42", "uid")).toBe("42");
    expect<string>(query("?uid=7", "uid")).toBe("7");
  });

  it("takes the first occurrence", () => {
    expect<string>(query("/p?uid=1&uid=2", "uid")).toBe("1");
  });

  it("does not confuse a name with a longer or shorter one", () => {
    expect<string>(query("/p?xuid=1&uid=2", "uid")).toBe("2");
    expect<string>(query("/p?uidx=1", "uid")).toBe("<absent>");
    expect<string>(query("/p?ui=1", "uid")).toBe("<absent>");
  });

  it("treats a parameter without a value as absent", () => {
    expect<string>(query("/p?uid", "uid")).toBe("<absent>");
    expect<string>(query("/p?uid=", "uid")).toBe("<absent>");
    expect<string>(query("/p?uid=#f", "uid")).toBe("<absent>");
    expect<string>(query("/p?", "uid")).toBe("<absent>");
    expect<string>(query("/p", "uid")).toBe("<absent>");
    expect<string>(query("", "uid")).toBe("<absent>");
  });

  it("stops at the fragment", () => {
    expect<string>(query("/p?uid=4#frag", "uid")).toBe("4");
    expect<string>(query("/p?a=1#uid=5", "uid")).toBe("<absent>");
    expect<string>(query("/p?a=1#&uid=5", "uid")).toBe("<absent>");
    expect<string>(query("/p#uid=5", "uid")).toBe("<absent>");
  });

  it("keeps the value raw: no percent-decoding, '=' kept", () => {
    expect<string>(query("/p?uid=a%20b", "uid")).toBe("a%20b");
    expect<string>(query("/p?uid=a+b", "uid")).toBe("a+b");
    expect<string>(query("/p?uid=1=2", "uid")).toBe("1=2");
    expect<string>(query("/p?u%69d=1", "uid")).toBe("<absent>");
  });

  it("reads the query of the path, not the path itself", () => {
    expect<string>(query("/uid=9?a=1", "uid")).toBe("<absent>");
  });
});

describe("path key", () => {
  it("strips the query and the fragment", () => {
    expect<string>(pathKey("/orders/42?x=1")).toBe("/orders/42");
    expect<string>(pathKey("/orders/42#top")).toBe("/orders/42");
    expect<string>(pathKey("/orders/42?x=1#top")).toBe("/orders/42");
    expect<string>(pathKey("/orders/42")).toBe("/orders/42");
    expect<string>(pathKey("/")).toBe("/");
    expect<string>(pathKey("*")).toBe("*");
  });

  it("is absent for an empty path or a bare query", () => {
    expect<string>(pathKey("")).toBe("<absent>");
    expect<string>(pathKey("?x=1")).toBe("<absent>");
    expect<string>(pathKey("#f")).toBe("<absent>");
  });

  it("gives the same bucket with or without a query", () => {
    const cfg = simple("100", '"sampling":{"keys":["path"]}');
    expect<u32>(decide(cfg, request("GET", "/orders/42?a=1")).bucket).toBe(
      260792,
    );
    expect<u32>(decide(cfg, request("GET", "/orders/42")).bucket).toBe(260792);
  });
});

describe("sampling decision", () => {
  it("mirrors iff the bucket is below round(percentage × 10000)", () => {
    // bucketOf("", "req-0002") = 598448
    let d = decide(simple("59.8448", ""), get("/", "req-0002"));
    expect<u32>(d.bucket).toBe(598448);
    expect<Skip>(d.reason).toBe(Skip.SampledOut);
    d = decide(simple("59.8449", ""), get("/", "req-0002"));
    expect<u32>(d.bucket).toBe(598448);
    expect<Skip>(d.reason).toBe(Skip.None);
    expect<Skip>(reasonOf(simple("59.8447", ""), get("/", "req-0002"))).toBe(
      Skip.SampledOut,
    );
  });

  it("applies the formula to vector keys", () => {
    // req-0001 → 902411, req-0002 → 598448, req-0003 → 998436
    const cfg = simple("90.2412", "");
    expect<Skip>(reasonOf(cfg, get("/", "req-0001"))).toBe(Skip.None);
    expect<Skip>(reasonOf(cfg, get("/", "req-0002"))).toBe(Skip.None);
    expect<Skip>(reasonOf(cfg, get("/", "req-0003"))).toBe(Skip.SampledOut);
    expect<u32>(decide(cfg, get("/", "req-0003")).bucket).toBe(998436);
  });

  it("mirrors nothing at 0% and everything at 100%", () => {
    const none = simple("0", "");
    const all = simple("100", "");
    for (let i = 0; i < 500; i++) {
      const id = "id-" + i.toString();
      expect<Skip>(reasonOf(none, get("/", id))).toBe(Skip.SampledOut, id);
      expect<Skip>(reasonOf(all, get("/", id))).toBe(Skip.None, id);
    }
  });

  it("agrees with bucketOf and the target's salt for many keys", () => {
    const cfg = simple("25", '"sampling":{"salt":"v7"}');
    for (let i = 0; i < 500; i++) {
      const id = "user-" + i.toString();
      const b = bucketOf("v7", id);
      const d = decide(cfg, get("/", id));
      expect<u32>(d.bucket).toBe(b, id);
      expect<Skip>(d.reason).toBe(b < 250000 ? Skip.None : Skip.SampledOut, id);
    }
  });

  it("keeps every mirrored key mirrored when the percentage is raised", () => {
    const pcts: string[] = ["0.5", "5", "10", "50", "99.9999"];
    const cfgs: Config[] = [];
    for (let p = 0; p < pcts.length; p++) cfgs.push(simple(pcts[p], ""));
    for (let i = 0; i < 500; i++) {
      const id = "k" + i.toString();
      let was = false;
      for (let p = 0; p < cfgs.length; p++) {
        const now = reasonOf(cfgs[p], get("/", id)) == Skip.None;
        if (was) expect<bool>(now).toBe(true, id + " at " + pcts[p]);
        was = now;
      }
    }
  });
});

describe("fragments", () => {
  it("finds no query parameter after a fragment", () => {
    expect<string>(query("/p#x?uid=5", "uid")).toBe("<absent>");
    expect<string>(query("/p?uid=5#x", "uid")).toBe("5");
  });
});
