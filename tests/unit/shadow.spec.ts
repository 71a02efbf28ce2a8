// The copy's headers: the proxy-wasm header-map wire format, host suffixing,
// and every rule of shadowHeaders (authority, marker, removals, additions,
// hop-by-hop, byte-exact values).

import { Config, parseConfig } from "../../assembly/config";
import {
  Header,
  findHeader,
  parseHeaderMap,
  serializeHeaderMap,
  shadowHeaders,
} from "../../assembly/shadow";

function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

function h(name: string, value: string): Header {
  return new Header(name, utf8(value));
}

function bytes(values: u8[]): ArrayBuffer {
  const b = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) b[i] = values[i];
  return b.buffer;
}

function sameBytes(a: ArrayBuffer, b: ArrayBuffer): bool {
  if (a.byteLength != b.byteLength) return false;
  return (
    memory.compare(changetype<usize>(a), changetype<usize>(b), a.byteLength) ==
    0
  );
}

/** "name: value" lines, for comparing whole header lists in one expectation. */
function dump(headers: Header[]): string {
  const lines: string[] = [];
  for (let i = 0; i < headers.length; i++) {
    lines.push(headers[i].name + ": " + String.UTF8.decode(headers[i].value));
  }
  return lines.join("\n");
}

function lines(list: string[]): string {
  return list.join("\n");
}

function config(json: string): Config {
  const r = parseConfig(json);
  expect<string>(r.error).toBe("", json);
  return r.config!;
}

/** One target "dark" (members `target` added) plus `extra` top-level members. */
function cfgWith(target: string, extra: string): Config {
  let t = '"cluster":"dark","percentage":10';
  if (target.length > 0) t += "," + target;
  const body = '"targets":[{' + t + "}]";
  return config(
    extra.length > 0 ? "{" + body + "," + extra + "}" : "{" + body + "}",
  );
}

/** The copy for the first target, built from the live headers' wire bytes, as a list. */
function shadow(cfg: Config, live: Header[]): Header[] {
  const pairs = serializeHeaderMap(live);
  return parseHeaderMap(
    shadowHeaders(
      cfg,
      cfg.targets[0],
      changetype<usize>(pairs),
      pairs.byteLength,
    ),
  );
}

function copy(cfg: Config, live: Header[]): string {
  return dump(shadow(cfg, live));
}

/** The copy's :authority for a live one, with host_suffix `suffix` (none when empty). */
function suffixHost(authority: string, suffix: string): string {
  const cfg = cfgWith(
    suffix.length > 0 ? '"host_suffix":"' + suffix + '"' : "",
    "",
  );
  return String.UTF8.decode(shadow(cfg, [h(":authority", authority)])[0].value);
}

/** A typical live request. */
function liveRequest(): Header[] {
  return [
    h(":method", "GET"),
    h(":scheme", "https"),
    h(":path", "/orders/1?x=1"),
    h(":authority", "kitchen:8080"),
    h("x-request-id", "abc-123"),
    h("user-agent", "curl/8"),
    h("accept", "*/*"),
  ];
}

describe("header map wire format", () => {
  it("serializes counts, sizes and NUL-terminated bytes, little-endian", () => {
    const buf = serializeHeaderMap([h("a", "bc"), h("de", "")]);
    const b = Uint8Array.wrap(buf);
    // 4 + 2 × 8 + (1+1 + 2+1) + (2+1 + 0+1)
    expect<i32>(buf.byteLength).toBe(29);
    const expected: u8[] = [
      2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0x61, 0, 0x62,
      0x63, 0, 0x64, 0x65, 0, 0,
    ];
    for (let i = 0; i < expected.length; i++) {
      expect<u8>(b[i]).toBe(expected[i], "byte " + i.toString());
    }
  });

  it("serializes an empty map as a zero count", () => {
    const buf = serializeHeaderMap([]);
    expect<i32>(buf.byteLength).toBe(4);
    expect<u32>(load<u32>(changetype<usize>(buf))).toBe(0);
    expect<i32>(parseHeaderMap(buf).length).toBe(0);
  });

  it("round-trips names and byte-exact values", () => {
    const bin = bytes([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28]);
    const headers: Header[] = [
      h(":method", "GET"),
      h(":path", "/a?b=c"),
      h("x-empty", ""),
      h("x-utf8", "日本語 é"),
      new Header("x-bin", bin),
      h("x-dup", "1"),
      h("x-dup", "2"),
    ];
    const parsed = parseHeaderMap(serializeHeaderMap(headers));
    expect<i32>(parsed.length).toBe(headers.length);
    for (let i = 0; i < headers.length; i++) {
      expect<string>(parsed[i].name).toBe(headers[i].name);
      expect<bool>(sameBytes(parsed[i].value, headers[i].value)).toBe(
        true,
        headers[i].name,
      );
    }
  });

  it("round-trips a long value", () => {
    const v = "v".repeat(70000);
    const parsed = parseHeaderMap(serializeHeaderMap([h("x-long", v)]));
    expect<i32>(parsed.length).toBe(1);
    expect<i32>(parsed[0].value.byteLength).toBe(70000);
  });

  it("yields a prefix of a truncated map, never crashing", () => {
    const headers: Header[] = [
      h(":method", "GET"),
      h("x-a", "12"),
      h("x-b", "345"),
    ];
    const full = serializeHeaderMap(headers);
    for (let n = 0; n < full.byteLength; n++) {
      const parsed = parseHeaderMap(full.slice(0, n));
      expect<i32>(parsed.length).toBeLessThan(headers.length, n.toString());
      for (let i = 0; i < parsed.length; i++) {
        expect<string>(parsed[i].name).toBe(headers[i].name, n.toString());
        expect<bool>(sameBytes(parsed[i].value, headers[i].value)).toBe(true);
      }
    }
    expect<i32>(parseHeaderMap(full).length).toBe(3);
  });

  it("stops at an entry whose sizes run past the end", () => {
    const full = serializeHeaderMap([h("x-a", "1"), h("x-b", "2")]);
    // second entry's value size: 0xffffffff
    store<u32>(changetype<usize>(full) + 16, 0xffffffff);
    const parsed = parseHeaderMap(full);
    expect<i32>(parsed.length).toBe(1);
    expect<string>(parsed[0].name).toBe("x-a");
    // first entry's name size just too large for the buffer
    const other = serializeHeaderMap([h("x-a", "1")]);
    store<u32>(changetype<usize>(other) + 4, 5);
    expect<i32>(parseHeaderMap(other).length).toBe(0);
  });

  it("refuses a count the buffer cannot hold", () => {
    const full = serializeHeaderMap([h("x-a", "1")]);
    store<u32>(changetype<usize>(full), 0xffffffff);
    expect<i32>(parseHeaderMap(full).length).toBe(0);
    store<u32>(changetype<usize>(full), 0x80000000);
    expect<i32>(parseHeaderMap(full).length).toBe(0);
    store<u32>(changetype<usize>(full), 2);
    expect<i32>(parseHeaderMap(full).length).toBe(0);
  });

  it("survives short and random buffers", () => {
    expect<i32>(parseHeaderMap(new ArrayBuffer(0)).length).toBe(0);
    expect<i32>(parseHeaderMap(new ArrayBuffer(3)).length).toBe(0);
    expect<i32>(parseHeaderMap(new ArrayBuffer(4)).length).toBe(0);
    let seed: u32 = 12345;
    for (let round = 0; round < 2000; round++) {
      const n = <i32>(seed % 64);
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        seed = seed * 1103515245 + 12345;
        b[i] = <u8>(seed >> 16);
      }
      // small counts and sizes now and then, so some entries parse
      if (n >= 4 && (round & 1) == 0) store<u32>(b.dataStart, seed % 4);
      if (n >= 12 && (round & 2) == 0) {
        store<u32>(b.dataStart + 4, (seed >> 3) % 8);
        store<u32>(b.dataStart + 8, (seed >> 7) % 8);
      }
      const parsed = parseHeaderMap(b.buffer);
      expect<i32>(parsed.length).toBeLessThanOrEqual(n / 10);
      seed = seed * 1103515245 + 12345;
    }
  });
});

describe("suffixHost", () => {
  it("appends the suffix to the host, before any port", () => {
    expect<string>(suffixHost("kitchen", "-shadow")).toBe("kitchen-shadow");
    expect<string>(suffixHost("kitchen:8080", "-shadow")).toBe(
      "kitchen-shadow:8080",
    );
    expect<string>(suffixHost("kitchen.default.svc:80", "-shadow")).toBe(
      "kitchen.default.svc-shadow:80",
    );
    expect<string>(suffixHost("10.0.0.1:443", "-s")).toBe("10.0.0.1-s:443");
  });

  it("keeps an IPv6 literal's brackets and colons", () => {
    expect<string>(suffixHost("[::1]:8080", "-shadow")).toBe(
      "[::1]-shadow:8080",
    );
    expect<string>(suffixHost("[::1]", "-shadow")).toBe("[::1]-shadow");
    expect<string>(suffixHost("[2001:db8::1]:443", "-s")).toBe(
      "[2001:db8::1]-s:443",
    );
  });

  it("leaves the authority alone when the suffix is empty", () => {
    expect<string>(suffixHost("kitchen", "")).toBe("kitchen");
    expect<string>(suffixHost("kitchen:8080", "")).toBe("kitchen:8080");
    expect<string>(suffixHost("[::1]:8080", "")).toBe("[::1]:8080");
    expect<string>(suffixHost("", "")).toBe("");
  });
});

describe("shadowHeaders: authority", () => {
  it("suffixes the live host with host_suffix", () => {
    const cfg = cfgWith('"host_suffix":"-shadow"', "");
    expect<string>(copy(cfg, liveRequest())).toBe(
      lines([
        ":method: GET",
        ":scheme: https",
        ":path: /orders/1?x=1",
        ":authority: kitchen-shadow:8080",
        "x-request-id: abc-123",
        "user-agent: curl/8",
        "accept: */*",
        "x-shadow: true",
      ]),
    );
  });

  it("keeps the live authority when no suffix or authority is set", () => {
    const cfg = cfgWith("", "");
    expect<string>(dump([shadow(cfg, liveRequest())[3]])).toBe(
      ":authority: kitchen:8080",
    );
  });

  it("rewrites :authority to the literal authority, in place", () => {
    const cfg = cfgWith('"authority":"kitchen-next.internal:9090"', "");
    const out = shadow(cfg, liveRequest());
    expect<string>(out[3].name).toBe(":authority");
    expect<string>(String.UTF8.decode(out[3].value)).toBe(
      "kitchen-next.internal:9090",
    );
  });

  it("gives a request without :authority the cluster, or the literal authority", () => {
    const live: Header[] = [
      h(":method", "GET"),
      h(":path", "/"),
      h("x-a", "1"),
    ];
    expect<string>(copy(cfgWith('"host_suffix":"-shadow"', ""), live)).toBe(
      lines([
        ":method: GET",
        ":path: /",
        "x-a: 1",
        ":authority: dark",
        "x-shadow: true",
      ]),
    );
    expect<string>(copy(cfgWith('"authority":"dark.local"', ""), live)).toBe(
      lines([
        ":method: GET",
        ":path: /",
        "x-a: 1",
        ":authority: dark.local",
        "x-shadow: true",
      ]),
    );
  });

  it("keeps only the first of several :authority headers", () => {
    const live: Header[] = [
      h(":authority", "a"),
      h(":authority", "b"),
      h(":path", "/"),
    ];
    expect<string>(copy(cfgWith('"host_suffix":"-s"', ""), live)).toBe(
      lines([":authority: a-s", ":path: /", "x-shadow: true"]),
    );
  });

  it("answers an empty live request with authority and marker only", () => {
    expect<string>(copy(cfgWith("", ""), [])).toBe(
      lines([":authority: dark", "x-shadow: true"]),
    );
  });
});

describe("shadowHeaders: marker", () => {
  it("sets the configured marker last", () => {
    const cfg = cfgWith("", '"marker":{"header":"x-dark","value":"1"}');
    const out = shadow(cfg, liveRequest());
    expect<string>(dump([out[out.length - 1]])).toBe("x-dark: 1");
  });

  it("replaces an inbound marker instead of duplicating it", () => {
    const live: Header[] = [
      h(":authority", "a"),
      h("x-shadow", "evil"),
      h("x-b", "1"),
      h("x-shadow", "again"),
    ];
    expect<string>(copy(cfgWith("", ""), live)).toBe(
      lines([":authority: a", "x-b: 1", "x-shadow: true"]),
    );
  });

  it("treats the default marker name as an ordinary header when another is configured", () => {
    const live: Header[] = [
      h(":authority", "a"),
      h("x-shadow", "1"),
      h("x-dark", "0"),
    ];
    expect<string>(
      copy(cfgWith("", '"marker":{"header":"x-dark","value":"yes"}'), live),
    ).toBe(lines([":authority: a", "x-shadow: 1", "x-dark: yes"]));
  });
});

function withCredentials(): Header[] {
  return [
    h(":authority", "a"),
    h("x-request-id", "rid"),
    h("authorization", "Bearer t"),
    h("proxy-authorization", "Basic u"),
    h("cookie", "session=s"),
    h("x-forwarded-client-cert", "Hash=1"),
    h("x-secret", "k"),
    h("x-keep", "1"),
  ];
}

describe("shadowHeaders: removals", () => {
  it("removes credentials by default and keeps x-request-id", () => {
    expect<string>(copy(cfgWith("", ""), withCredentials())).toBe(
      lines([
        ":authority: a",
        "x-request-id: rid",
        "x-secret: k",
        "x-keep: 1",
        "x-shadow: true",
      ]),
    );
  });

  it("replaces the default list with a custom remove list", () => {
    expect<string>(
      copy(cfgWith("", '"headers":{"remove":["x-secret"]}'), withCredentials()),
    ).toBe(
      lines([
        ":authority: a",
        "x-request-id: rid",
        "authorization: Bearer t",
        "proxy-authorization: Basic u",
        "cookie: session=s",
        "x-forwarded-client-cert: Hash=1",
        "x-keep: 1",
        "x-shadow: true",
      ]),
    );
  });

  it("removes nothing configured with an empty list", () => {
    const cfg = cfgWith("", '"headers":{"remove":[]}');
    const out = shadow(cfg, withCredentials());
    expect<i32>(out.length).toBe(9);
    expect<string>(dump([out[7], out[8]])).toBe(
      lines(["x-keep: 1", "x-shadow: true"]),
    );
  });

  it("can remove x-request-id when told to", () => {
    expect<string>(
      copy(cfgWith("", '"headers":{"remove":["x-request-id","cookie"]}'), [
        h(":authority", "a"),
        h("x-request-id", "r"),
        h("cookie", "c"),
      ]),
    ).toBe(lines([":authority: a", "x-shadow: true"]));
  });

  it("drops every hop-by-hop header and content-length", () => {
    const live: Header[] = [
      h(":authority", "a"),
      h("connection", "keep-alive"),
      h("keep-alive", "timeout=5"),
      h("proxy-connection", "keep-alive"),
      h("transfer-encoding", "chunked"),
      h("upgrade", "h2c"),
      h("te", "gzip, trailers"),
      h("trailer", "x-checksum"),
      h("content-length", "12"),
      h("content-type", "application/json"),
    ];
    expect<string>(copy(cfgWith("", ""), live)).toBe(
      lines([
        ":authority: a",
        "content-type: application/json",
        "x-shadow: true",
      ]),
    );
  });

  it("keeps te: trailers, the one TE HTTP/2 allows (gRPC needs it)", () => {
    const live: Header[] = [
      h(":authority", "a"),
      h("te", "trailers"),
      h("content-type", "application/grpc"),
    ];
    expect<string>(copy(cfgWith("", ""), live)).toBe(
      lines([
        ":authority: a",
        "te: trailers",
        "content-type: application/grpc",
        "x-shadow: true",
      ]),
    );
  });

  it("drops the headers a Connection header names, in any case and spacing", () => {
    const live: Header[] = [
      h(":authority", "a"),
      h("connection", "close, X-Hop-One ,,\tx-hop-two"),
      h("x-hop-one", "1"),
      h("x-hop-two", "2"),
      h("connection", "x-hop-three"),
      h("x-hop-three", "3"),
      h("x-hop", "kept: not named"),
    ];
    expect<string>(copy(cfgWith("", ""), live)).toBe(
      lines([":authority: a", "x-hop: kept: not named", "x-shadow: true"]),
    );
  });

  it("trims every white space String#trim knows around a Connection token and a TE value", () => {
    const live: Header[] = [
      h(":authority", "a"),
      h("connection", "\u00a0x-nbsp\u3000,\u2009x-thin\ufeff, x-\u00a0mid"),
      h("x-nbsp", "1"),
      h("x-thin", "2"),
      h("x-mid", "3: not named (the space is inside)"),
      h("te", "\u00a0trailers\u2028"),
      h("x-empty-name-token", "4"),
    ];
    expect<string>(copy(cfgWith("", ""), live)).toBe(
      lines([
        ":authority: a",
        "x-mid: 3: not named (the space is inside)",
        "te: \u00a0trailers\u2028",
        "x-empty-name-token: 4",
        "x-shadow: true",
      ]),
    );
  });

  it("honours a Connection header that comes after the headers it names", () => {
    const live: Header[] = [
      h(":authority", "a"),
      h("x-late", "1"),
      h("connection", "x-late"),
    ];
    expect<string>(copy(cfgWith("", ""), live)).toBe(
      lines([":authority: a", "x-shadow: true"]),
    );
  });
});

describe("shadowHeaders: additions", () => {
  it("appends headers.add before the marker", () => {
    const cfg = cfgWith(
      "",
      '"headers":{"add":{"x-env":"shadow","x-utf8":"é ü"}}',
    );
    expect<string>(copy(cfg, [h(":authority", "a"), h("x-b", "1")])).toBe(
      lines([
        ":authority: a",
        "x-b: 1",
        "x-env: shadow",
        "x-utf8: é ü",
        "x-shadow: true",
      ]),
    );
  });

  it("replaces a live header of the same name rather than adding a second", () => {
    const cfg = cfgWith("", '"headers":{"add":{"x-env":"shadow"}}');
    const live: Header[] = [
      h(":authority", "a"),
      h("x-env", "prod"),
      h("x-b", "1"),
      h("x-env", "prod2"),
    ];
    expect<string>(copy(cfg, live)).toBe(
      lines([":authority: a", "x-b: 1", "x-env: shadow", "x-shadow: true"]),
    );
  });

  it("adds an empty value", () => {
    const cfg = cfgWith("", '"headers":{"add":{"x-empty":""}}');
    expect<string>(copy(cfg, [h(":authority", "a")])).toBe(
      lines([":authority: a", "x-empty: ", "x-shadow: true"]),
    );
  });

  it("can add a header the default list removes", () => {
    const cfg = cfgWith(
      "",
      '"headers":{"add":{"authorization":"Bearer dark"}}',
    );
    expect<string>(
      copy(cfg, [h(":authority", "a"), h("authorization", "Bearer live")]),
    ).toBe(
      lines([":authority: a", "authorization: Bearer dark", "x-shadow: true"]),
    );
  });
});

describe("shadowHeaders: bytes", () => {
  it("keeps non-ASCII and non-UTF-8 values byte-exact", () => {
    const bin = bytes([0xff, 0xfe, 0x80, 0xc3, 0x28, 0x00, 0x7f]);
    const utf = utf8("ключ 日本語");
    const cfg = cfgWith('"host_suffix":"-s"', "");
    const out = shadow(cfg, [
      h(":authority", "a"),
      new Header("x-bin", bin),
      new Header("x-utf8", utf),
    ]);
    expect<string>(out[1].name).toBe("x-bin");
    expect<bool>(sameBytes(out[1].value, bin)).toBe(true);
    expect<string>(out[2].name).toBe("x-utf8");
    expect<bool>(sameBytes(out[2].value, utf)).toBe(true);
  });

  it("keeps them byte-exact through the wire format", () => {
    const bin = bytes([0xff, 0x00, 0x80, 0xe2, 0x82]);
    const live = serializeHeaderMap([
      h(":authority", "kitchen"),
      h(":path", "/"),
      new Header("x-bin", bin),
    ]);
    const cfg = cfgWith('"host_suffix":"-shadow"', "");
    const out = parseHeaderMap(
      serializeHeaderMap(shadow(cfg, parseHeaderMap(live))),
    );
    expect<i32>(out.length).toBe(4);
    expect<string>(String.UTF8.decode(out[0].value)).toBe("kitchen-shadow");
    expect<string>(out[2].name).toBe("x-bin");
    expect<bool>(sameBytes(out[2].value, bin)).toBe(true);
    expect<string>(dump([out[3]])).toBe("x-shadow: true");
  });

  it("leaves the live headers untouched", () => {
    const live = liveRequest();
    const before = dump(live);
    const cfg = cfgWith(
      '"host_suffix":"-shadow"',
      '"headers":{"add":{"accept":"x"}}',
    );
    shadow(cfg, live);
    expect<string>(dump(live)).toBe(before);
  });
});

describe("authority edge cases", () => {
  it("puts the suffix before an empty port", () => {
    expect<string>(suffixHost("host:", "-s")).toBe("host-s:");
  });
});

describe("shadowHeaders: unchanged authority", () => {
  it("keeps the live :authority bytes exactly when neither authority nor host_suffix is set", () => {
    const odd = bytes([0x68, 0xff]);
    const cfg = cfgWith("", "");
    const out = shadow(cfg, [new Header(":authority", odd)]);
    expect<string>(out[0].name).toBe(":authority");
    expect<bool>(sameBytes(out[0].value, odd)).toBe(true);
  });
});

describe("findHeader", () => {
  it("finds the first value of a header in a serialized map, or null", () => {
    const map = serializeHeaderMap([
      h(":path", "/a?b=c"),
      h("x-dup", "one"),
      h("x-dup", "two"),
      h("x-empty", ""),
    ]);
    expect<string>(String.UTF8.decode(findHeader(map, utf8(":path"))!)).toBe(
      "/a?b=c",
    );
    expect<string>(String.UTF8.decode(findHeader(map, utf8("x-dup"))!)).toBe(
      "one",
    );
    expect<i32>(findHeader(map, utf8("x-empty"))!.byteLength).toBe(0);
    expect<bool>(findHeader(map, utf8("x-none")) === null).toBe(true);
    expect<bool>(findHeader(map, utf8("x-du")) === null).toBe(true);
  });

  it("searches a truncated or garbage map only as far as it is consistent", () => {
    const map = serializeHeaderMap([h("a", "1"), h("b", "2")]);
    for (let n = 0; n < map.byteLength; n++) {
      const cut = map.slice(0, n);
      const b = findHeader(cut, utf8("b"));
      expect<bool>(b === null).toBe(true);
    }
    expect<bool>(findHeader(new ArrayBuffer(3), utf8("a")) === null).toBe(true);
  });
});
