// The plugin JSON's fields for several targets and their limits: max_rps, at most 64 targets, no
// cluster twice, one salt group per distinct salt, the warning for a target at 0 %, the VM-wide
// max_buffered_bytes and method_override — accepted values, defaults and exact refusals.

import {
  Config,
  ConfigResult,
  DEFAULT_MAX_BUFFERED_BYTES,
  KeySource,
  MAX_TARGETS,
  parseConfig,
} from "../../assembly/config";

function accepted(json: string): Config {
  const r = parseConfig(json);
  expect<string>(r.error).toBe("", json);
  return r.config!;
}

function refused(json: string, error: string): void {
  const r: ConfigResult = parseConfig(json);
  expect<Config | null>(r.config).toBeNull(json);
  expect<string>(r.error).toBe(error, json);
}

/** `n` targets dark-0 … dark-(n-1) at 1 %. */
function targets(n: i32): string {
  const items: string[] = [];
  for (let i = 0; i < n; i++) {
    items.push('{"cluster":"dark-' + i.toString() + '","percentage":1}');
  }
  return '{"targets":[' + items.join(",") + "]}";
}

/** One target "dark" at 10 % with `fields` added. */
function one(fields: string): string {
  return '{"targets":[{"cluster":"dark","percentage":10,' + fields + "}]}";
}

/** One target "dark" at 10 % and `extra` top-level members. */
function top(extra: string): string {
  return '{"targets":[{"cluster":"dark","percentage":10}],' + extra + "}";
}

const RPS = "must be a number greater than 0 and at most 1000000, got ";

describe("max_rps", () => {
  it("is off (0) by default", () => {
    expect<f64>(accepted(one('"salt":""')).targets[0].maxRps).toBe(0);
  });

  it("takes any number in (0, 1e6], fractions too, in both forms", () => {
    expect<f64>(accepted(one('"max_rps":5')).targets[0].maxRps).toBe(5);
    expect<f64>(accepted(one('"max_rps":0.5')).targets[0].maxRps).toBe(0.5);
    expect<f64>(accepted(one('"max_rps":1e-3')).targets[0].maxRps).toBe(0.001);
    expect<f64>(accepted(one('"max_rps":1000000')).targets[0].maxRps).toBe(1e6);
    expect<f64>(
      accepted('{"cluster":"dark","percentage":1,"max_rps":2.5}').targets[0]
        .maxRps,
    ).toBe(2.5);
  });

  it("is per target", () => {
    const cfg = accepted(
      '{"targets":[{"cluster":"a","percentage":1,"max_rps":3},{"cluster":"b","percentage":1}]}',
    );
    expect<f64>(cfg.targets[0].maxRps).toBe(3);
    expect<f64>(cfg.targets[1].maxRps).toBe(0);
  });

  it("refuses 0, negatives, more than 1e6 and non-numbers, naming the target", () => {
    refused(one('"max_rps":0'), "targets[0].max_rps: " + RPS + "0");
    refused(one('"max_rps":-0'), "targets[0].max_rps: " + RPS + "-0");
    refused(one('"max_rps":-5'), "targets[0].max_rps: " + RPS + "-5");
    refused(one('"max_rps":1000001'), "targets[0].max_rps: " + RPS + "1000001");
    refused(one('"max_rps":1e400'), "targets[0].max_rps: " + RPS + "1e400");
    refused(
      one('"max_rps":"5"'),
      "targets[0].max_rps: must be a number, got a string",
    );
    refused(
      one('"max_rps":null'),
      "targets[0].max_rps: must be a number, got null",
    );
    refused(
      '{"cluster":"dark","percentage":1,"max_rps":0}',
      "max_rps: " + RPS + "0",
    );
    refused(
      one('"max_rsp":5'),
      'targets[0].max_rsp: unknown field (did you mean "max_rps"?)',
    );
    refused(
      '{"targets":[{"cluster":"a","percentage":1},{"cluster":"b","percentage":1,"max_rps":[1]}]}',
      "targets[1].max_rps: must be a number, got an array",
    );
  });
});

describe("targets: how many, which clusters", () => {
  it("takes up to 64 targets", () => {
    expect<i32>(MAX_TARGETS).toBe(64);
    expect<i32>(accepted(targets(64)).targets.length).toBe(64);
    refused(targets(65), "targets: must have at most 64 targets, got 65");
    refused(targets(1000), "targets: must have at most 64 targets, got 1000");
  });

  it("refuses the same cluster twice, naming the first", () => {
    refused(
      '{"targets":[{"cluster":"a","percentage":1},{"cluster":"b","percentage":1},{"cluster":"a","percentage":5,"salt":"x"}]}',
      "targets[2].cluster: is already the cluster of targets[0]",
    );
    refused(
      '{"targets":[{"cluster":"a","percentage":1},{"cluster":"b","percentage":1},{"cluster":"b","percentage":1}]}',
      "targets[2].cluster: is already the cluster of targets[1]",
    );
    // names differ by case only: two clusters to Envoy
    expect<i32>(
      accepted(
        '{"targets":[{"cluster":"a","percentage":1},{"cluster":"A","percentage":1}]}',
      ).targets.length,
    ).toBe(2);
  });

  it("gives targets that share a salt one salt group (one bucket per request)", () => {
    const cfg = accepted(
      '{"sampling":{"salt":"s"},"targets":[' +
        '{"cluster":"a","percentage":1},' +
        '{"cluster":"b","percentage":1,"salt":"v3"},' +
        '{"cluster":"c","percentage":1,"salt":"s"},' +
        '{"cluster":"d","percentage":1,"salt":""},' +
        '{"cluster":"e","percentage":1,"salt":"v3"}]}',
    );
    expect<i32>(cfg.saltPrefixes.length).toBe(3);
    expect<string>(String.UTF8.decode(cfg.saltPrefixes[0])).toBe("s:");
    expect<string>(String.UTF8.decode(cfg.saltPrefixes[1])).toBe("v3:");
    expect<string>(String.UTF8.decode(cfg.saltPrefixes[2])).toBe(":");
    expect<i32>(cfg.targets[0].saltGroup).toBe(0);
    expect<i32>(cfg.targets[1].saltGroup).toBe(1);
    expect<i32>(cfg.targets[2].saltGroup).toBe(0);
    expect<i32>(cfg.targets[3].saltGroup).toBe(2);
    expect<i32>(cfg.targets[4].saltGroup).toBe(1);
  });

  it("warns about every target at 0 %, and about nothing else", () => {
    const r = parseConfig(
      '{"targets":[{"cluster":"a","percentage":0},{"cluster":"b","percentage":0.0001},{"cluster":"c","percentage":0.0}]}',
    );
    expect<string>(r.error).toBe("");
    expect<i32>(r.warnings.length).toBe(2);
    expect<string>(r.warnings[0]).toBe(
      "targets[0].percentage: 0 mirrors nothing (every request is counted as sampled_out)",
    );
    expect<string>(r.warnings[1]).toBe(
      "targets[2].percentage: 0 mirrors nothing (every request is counted as sampled_out)",
    );
    expect<i32>(parseConfig(targets(64)).warnings.length).toBe(0);
  });
});

describe("max_buffered_bytes", () => {
  it("is 32 MiB by default, and takes 64 KiB to 256 MiB", () => {
    expect<u32>(DEFAULT_MAX_BUFFERED_BYTES).toBe(32 << 20);
    expect<u32>(accepted(top('"max_inflight":5')).maxBufferedBytes).toBe(
      32 << 20,
    );
    expect<u32>(
      accepted(top('"max_buffered_bytes":65536,"max_body_bytes":65536'))
        .maxBufferedBytes,
    ).toBe(65536);
    expect<u32>(
      accepted(top('"max_buffered_bytes":268435456')).maxBufferedBytes,
    ).toBe(268435456);
  });

  it("must hold at least one body of max_body_bytes", () => {
    refused(
      top('"max_buffered_bytes":65536,"max_body_bytes":65537'),
      "max_buffered_bytes: must be at least max_body_bytes (65537)",
    );
    // the default body cap (64 KiB) fits the smallest budget
    expect<u32>(accepted(top('"max_buffered_bytes":65536')).maxBodyBytes).toBe(
      65536,
    );
    // the largest body cap fits the default budget
    expect<u32>(
      accepted(top('"max_body_bytes":16777216')).maxBufferedBytes,
    ).toBe(32 << 20);
  });

  it("refuses out-of-range and non-integer budgets", () => {
    const range =
      "max_buffered_bytes: must be between 65536 and 268435456, got ";
    refused(top('"max_buffered_bytes":65535'), range + "65535");
    refused(top('"max_buffered_bytes":268435457'), range + "268435457");
    refused(top('"max_buffered_bytes":0'), range + "0");
    refused(
      top('"max_buffered_bytes":100000.5'),
      "max_buffered_bytes: must be a whole number, got 100000.5",
    );
    refused(
      top('"max_buffered_bytes":"32M"'),
      "max_buffered_bytes: must be a number, got a string",
    );
  });
});

describe("method_override", () => {
  it("checks the four usual sources by default", () => {
    const o = accepted(top('"max_inflight":5')).methodOverrides;
    expect<i32>(o.length).toBe(4);
    expect<KeySource>(o[0].source).toBe(KeySource.Header);
    expect<string>(o[0].name).toBe("x-http-method-override");
    expect<string>(o[1].name).toBe("x-http-method");
    expect<string>(o[2].name).toBe("x-method-override");
    expect<KeySource>(o[3].source).toBe(KeySource.Query);
    expect<string>(o[3].name).toBe("_method");
    expect<string>(String.UTF8.decode(o[3].nameBytes)).toBe("_method");
  });

  it("replaces the list: [] checks none, header names are lower-cased", () => {
    expect<i32>(
      accepted(top('"method_override":[]')).methodOverrides.length,
    ).toBe(0);
    const o = accepted(
      top('"method_override":["header:X-Verb","query:verb"]'),
    ).methodOverrides;
    expect<i32>(o.length).toBe(2);
    expect<string>(o[0].name).toBe("x-verb");
    expect<KeySource>(o[1].source).toBe(KeySource.Query);
    expect<string>(o[1].name).toBe("verb");
  });

  it("refuses anything but header:NAME and query:NAME", () => {
    const form = 'must be "header:NAME" or "query:NAME", got ';
    refused(
      top('"method_override":["header:x-a","body:_method"]'),
      "method_override[1]: " + form + '"body:_method"',
    );
    refused(
      top('"method_override":["header:"]'),
      "method_override[0]: " + form + '"header:"',
    );
    refused(
      top('"method_override":["header:x verb"]'),
      "method_override[0]: " + form + '"header:x verb"',
    );
    refused(
      top('"method_override":["query:"]'),
      "method_override[0]: " + form + '"query:"',
    );
    refused(
      top('"method_override":["query:a=b"]'),
      "method_override[0]: " + form + '"query:a=b"',
    );
    refused(
      top('"method_override":["cookie:m"]'),
      "method_override[0]: " + form + '"cookie:m"',
    );
    refused(
      top('"method_override":[""]'),
      "method_override[0]: must not be empty",
    );
    refused(
      top('"method_override":[1]'),
      "method_override[0]: must be a string, got a number",
    );
    refused(
      top('"method_override":"header:x-http-method"'),
      "method_override: must be an array, got a string",
    );
  });
});
