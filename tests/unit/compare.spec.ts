// The `compare` block of the plugin JSON (every field, its default, every refusal with the exact
// "<field>: <reason>" line) and judge(): the verdict on one live/dark pair in every mode.

import {
  BodyCompare,
  Config,
  StatusCompare,
  parseConfig,
} from "../../assembly/config";
import {
  Side,
  Verdict,
  digestBytesOf,
  judge,
  judgeAgainstBaseline,
  verdictName,
} from "../../assembly/compare";
import {
  JsonDigest,
  SKETCH_SLOTS,
  digestFootprint,
} from "../../assembly/jsondigest";

const T = '"targets":[{"cluster":"dark","percentage":10}]';

/** A config with one target and `compare` = `block` (JSON text). */
function withCompare(block: string): string {
  return "{" + T + ',"compare":' + block + "}";
}

function accepted(json: string): Config {
  const r = parseConfig(json);
  expect<string>(r.error).toBe("", json);
  return r.config!;
}

function refused(block: string, error: string): void {
  const r = parseConfig(withCompare(block));
  expect<Config | null>(r.config).toBeNull(block);
  expect<string>(r.error).toBe(error, block);
}

const BODY =
  'compare.body: must be false, "exact" or "json" (true means "exact"), got ';

describe("compare: defaults", () => {
  it("compares statuses exactly, nothing else, and samples one mismatch a second", () => {
    const cfg = accepted("{" + T + "}");
    expect<StatusCompare>(cfg.compareStatus).toBe(StatusCompare.Exact);
    expect<BodyCompare>(cfg.compareBody).toBe(BodyCompare.Off);
    expect<i32>(cfg.compareHeaders.length).toBe(0);
    expect<i32>(cfg.ignoreStatuses.length).toBe(0);
    expect<u32>(cfg.compareMaxBodyBytes).toBe(1 << 20);
    expect<f64>(cfg.samplesPerSecond).toBe(1);
    expect<bool>(cfg.sampleQuery).toBe(false);
    expect<u32>(digestBytesOf(cfg)).toBe(0);
    expect<bool>(cfg.ignoreRules === null).toBe(true);
  });

  it("keeps the same defaults for an empty compare block", () => {
    const cfg = accepted(withCompare("{}"));
    expect<StatusCompare>(cfg.compareStatus).toBe(StatusCompare.Exact);
    expect<BodyCompare>(cfg.compareBody).toBe(BodyCompare.Off);
    expect<f64>(cfg.samplesPerSecond).toBe(1);
  });
});

describe("compare: accepted values", () => {
  it("reads status exact, class and off", () => {
    expect<StatusCompare>(
      accepted(withCompare('{"status":"exact"}')).compareStatus,
    ).toBe(StatusCompare.Exact);
    expect<StatusCompare>(
      accepted(withCompare('{"status":"class"}')).compareStatus,
    ).toBe(StatusCompare.Class);
    expect<StatusCompare>(
      accepted(withCompare('{"status":"off"}')).compareStatus,
    ).toBe(StatusCompare.Off);
  });

  it("reads body false, true (exact), exact and json", () => {
    expect<BodyCompare>(
      accepted(withCompare('{"body":false}')).compareBody,
    ).toBe(BodyCompare.Off);
    expect<BodyCompare>(
      accepted(withCompare('{"body":true}')).compareBody,
    ).toBe(BodyCompare.Exact);
    expect<BodyCompare>(
      accepted(withCompare('{"body":"exact"}')).compareBody,
    ).toBe(BodyCompare.Exact);
    expect<BodyCompare>(
      accepted(withCompare('{"body":"json"}')).compareBody,
    ).toBe(BodyCompare.Json);
  });

  it("sizes a JSON digest only for body json, by its ignore patterns", () => {
    expect<u32>(digestBytesOf(accepted(withCompare('{"body":"exact"}')))).toBe(
      0,
    );
    const plain = accepted(withCompare('{"body":"json"}'));
    expect<u32>(digestBytesOf(plain)).toBe(<u32>digestFootprint(null));
    expect<u32>(digestBytesOf(plain)).toBeGreaterThan(0);
    const ignoring = accepted(
      withCompare('{"body":"json","ignore":["/**/timestamp","/items/*/id"]}'),
    );
    expect<bool>(ignoring.ignoreRules !== null).toBe(true);
    expect<i32>(ignoring.ignoreRules!.count).toBe(2);
    expect<u32>(digestBytesOf(ignoring)).toBe(
      <u32>digestFootprint(ignoring.ignoreRules),
    );
    expect<u32>(digestBytesOf(ignoring)).toBeGreaterThanOrEqual(
      digestBytesOf(plain),
    );
    // ignore may come before body in the object
    expect<i32>(
      accepted(withCompare('{"ignore":["/ts"],"body":"json"}')).ignoreRules!
        .count,
    ).toBe(1);
    expect<i32>(
      accepted(withCompare('{"body":"json","ignore":[]}')).ignoreRules!.count,
    ).toBe(0);
  });

  it("keeps compare.headers once each, in order", () => {
    const cfg = accepted(
      withCompare('{"headers":["content-type","x-version","content-type"]}'),
    );
    expect<i32>(cfg.compareHeaders.length).toBe(2);
    expect<string>(cfg.compareHeaders[0]).toBe("content-type");
    expect<string>(cfg.compareHeaders[1]).toBe("x-version");
    expect<string>(String.UTF8.decode(cfg.compareHeaderBytes[1])).toBe(
      "x-version",
    );
    expect<i32>(
      accepted(withCompare('{"headers":[]}')).compareHeaders.length,
    ).toBe(0);
  });

  it("reads ignore_statuses, max_body_bytes, samples_per_second and sample_query at their bounds", () => {
    const cfg = accepted(withCompare('{"ignore_statuses":[100,503,599]}'));
    expect<i32>(cfg.ignoreStatuses.length).toBe(3);
    expect<i32>(cfg.ignoreStatuses[1]).toBe(503);
    expect<u32>(
      accepted(withCompare('{"max_body_bytes":0}')).compareMaxBodyBytes,
    ).toBe(0);
    expect<u32>(
      accepted(withCompare('{"max_body_bytes":1073741824}'))
        .compareMaxBodyBytes,
    ).toBe(1073741824);
    expect<f64>(
      accepted(withCompare('{"samples_per_second":0}')).samplesPerSecond,
    ).toBe(0);
    expect<f64>(
      accepted(withCompare('{"samples_per_second":0.25}')).samplesPerSecond,
    ).toBe(0.25);
    expect<f64>(
      accepted(withCompare('{"samples_per_second":1000}')).samplesPerSecond,
    ).toBe(1000);
    expect<bool>(
      accepted(withCompare('{"sample_query":true}')).sampleQuery,
    ).toBe(true);
  });
});

describe("compare: refusals", () => {
  it("names the field and the reason", () => {
    refused('"exact"', "compare: must be an object, got a string");
    refused("[]", "compare: must be an object, got an array");
    refused(
      '{"status":"fuzzy"}',
      'compare.status: must be "exact", "class" or "off", got "fuzzy"',
    );
    refused(
      '{"status":"Exact"}',
      'compare.status: must be "exact", "class" or "off", got "Exact"',
    );
    refused(
      '{"status":true}',
      "compare.status: must be a string, got a boolean",
    );
    refused('{"body":"yes"}', BODY + '"yes"');
    refused('{"body":"JSON"}', BODY + '"JSON"');
    refused('{"body":null}', BODY + "null");
    refused('{"body":1}', BODY + "1");
    refused('{"ignore":["/ts"]}', 'compare.ignore: needs compare.body "json"');
    refused(
      '{"body":true,"ignore":[]}',
      'compare.ignore: needs compare.body "json"',
    );
    refused(
      '{"body":"json","ignore":"/ts"}',
      "compare.ignore: must be an array, got a string",
    );
    refused(
      '{"body":"json","ignore":["/a",1]}',
      "compare.ignore[1]: must be a string, got a number",
    );
    refused(
      '{"body":"json","ignore":["ts"]}',
      'compare.ignore[0]: must start with "/", got "ts"',
    );
    refused(
      '{"body":"json","ignore":[""]}',
      "compare.ignore[0]: would ignore the whole body",
    );
    refused(
      '{"body":"json","ignore":["/**"]}',
      "compare.ignore[0]: would ignore the whole body",
    );
    refused(
      '{"body":"json","ignore":["/**/**"]}',
      "compare.ignore[0]: would ignore the whole body",
    );
    refused(
      '{"body":"json","ignore":["/a~2"]}',
      'compare.ignore[0]: has a "~" not followed by 0 or 1 (~0 is "~", ~1 is "/")',
    );
    refused(
      '{"body":"json","ignore":["/a","/\\ud800"]}',
      "compare.ignore[1]: must be valid Unicode (a lone surrogate escape)",
    );
    refused(
      '{"body":"json","ignore":["/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17"]}',
      "compare.ignore[0]: has more than 16 tokens",
    );
    refused(
      '{"ignore_statuses":503}',
      "compare.ignore_statuses: must be an array, got a number",
    );
    refused(
      '{"ignore_statuses":[99]}',
      "compare.ignore_statuses[0]: must be between 100 and 599, got 99",
    );
    refused(
      '{"ignore_statuses":[200,600]}',
      "compare.ignore_statuses[1]: must be between 100 and 599, got 600",
    );
    refused(
      '{"ignore_statuses":[503.5]}',
      "compare.ignore_statuses[0]: must be a whole number, got 503.5",
    );
    refused(
      '{"ignore_statuses":["503"]}',
      "compare.ignore_statuses[0]: must be a number, got a string",
    );
    refused(
      '{"headers":"content-type"}',
      "compare.headers: must be an array, got a string",
    );
    refused(
      '{"headers":["Content-Type"]}',
      'compare.headers[0]: must be a valid lower-case HTTP header name, got "Content-Type"',
    );
    refused(
      '{"headers":[":status"]}',
      'compare.headers[0]: must be a valid lower-case HTTP header name, got ":status"',
    );
    refused('{"headers":[""]}', "compare.headers[0]: must not be empty");
    refused(
      '{"max_body_bytes":-1}',
      "compare.max_body_bytes: must be between 0 and 1073741824, got -1",
    );
    refused(
      '{"max_body_bytes":1073741825}',
      "compare.max_body_bytes: must be between 0 and 1073741824, got 1073741825",
    );
    refused(
      '{"max_body_bytes":1.5}',
      "compare.max_body_bytes: must be a whole number, got 1.5",
    );
    refused(
      '{"max_body_bytes":"1M"}',
      "compare.max_body_bytes: must be a number, got a string",
    );
    refused(
      '{"samples_per_second":-1}',
      "compare.samples_per_second: must be between 0 and 1000, got -1",
    );
    refused(
      '{"samples_per_second":1001}',
      "compare.samples_per_second: must be between 0 and 1000, got 1001",
    );
    refused(
      '{"samples_per_second":1e400}',
      "compare.samples_per_second: must be between 0 and 1000, got 1e400",
    );
    refused(
      '{"samples_per_second":"1"}',
      "compare.samples_per_second: must be a number, got a string",
    );
    refused(
      '{"sample_query":"yes"}',
      'compare.sample_query: must be true or false, got "yes"',
    );
    refused(
      '{"sample_query":1}',
      "compare.sample_query: must be true or false, got 1",
    );
    refused(
      '{"boddy":true}',
      'compare.boddy: unknown field (did you mean "body"?)',
    );
    refused(
      '{"sample_querry":true}',
      'compare.sample_querry: unknown field (did you mean "sample_query"?)',
    );
  });
});

// ----- judge ----------------------------------------------------------------------------------

function cfgOf(block: string): Config {
  return accepted(withCompare(block));
}

/** A side with `status`, `headers` (0 = absent, else a value hash) and an exact body hash. */
function side(status: i32, body: u64 = 1, headers: u64[] = []): Side {
  const s = new Side();
  s.reset(headers.length);
  s.status = status;
  for (let i = 0; i < headers.length; i++) s.headers[i] = headers[i];
  s.exact = body;
  return s;
}

/** A side whose body went through a JsonDigest, for body "json". */
function jsonSide(cfg: Config, status: i32, body: string): Side {
  const d = new JsonDigest(cfg.ignoreRules);
  const b = String.UTF8.encode(body);
  d.update(changetype<usize>(b), <u32>b.byteLength);
  d.finish();
  const s = new Side();
  s.reset(0);
  s.status = status;
  s.json = d.state;
  s.digest = d.digest;
  s.exact = d.exact;
  return s;
}

/** A 200 answer with this JSON body. */
function json(cfg: Config, body: string): Side {
  return jsonSide(cfg, 200, body);
}

describe("judge", () => {
  it("statuses: exact", () => {
    const cfg = cfgOf("{}");
    expect<Verdict>(judge(cfg, side(200), side(200))).toBe(Verdict.Match);
    expect<Verdict>(judge(cfg, side(200), side(201))).toBe(
      Verdict.StatusMismatch,
    );
    expect<Verdict>(judge(cfg, side(200), side(0))).toBe(
      Verdict.StatusMismatch,
    );
    // bodies are not compared by default
    expect<Verdict>(judge(cfg, side(200, 1), side(200, 2))).toBe(Verdict.Match);
  });

  it("statuses: by class; a reset is in no class", () => {
    const cfg = cfgOf('{"status":"class"}');
    expect<Verdict>(judge(cfg, side(200), side(204))).toBe(Verdict.Match);
    expect<Verdict>(judge(cfg, side(301), side(308))).toBe(Verdict.Match);
    expect<Verdict>(judge(cfg, side(404), side(400))).toBe(Verdict.Match);
    expect<Verdict>(judge(cfg, side(502), side(500))).toBe(Verdict.Match);
    expect<Verdict>(judge(cfg, side(200), side(300))).toBe(
      Verdict.StatusMismatch,
    );
    expect<Verdict>(judge(cfg, side(499), side(500))).toBe(
      Verdict.StatusMismatch,
    );
    expect<Verdict>(judge(cfg, side(200), side(0))).toBe(
      Verdict.StatusMismatch,
    );
    // a live status outside 200–599 shares the "reset" class with nothing
    expect<Verdict>(judge(cfg, side(0), side(0))).toBe(Verdict.StatusMismatch);
  });

  it("statuses: off, except that a dark reset (no status) never matches", () => {
    const cfg = cfgOf('{"status":"off"}');
    expect<Verdict>(judge(cfg, side(200), side(500))).toBe(Verdict.Match);
    expect<Verdict>(judge(cfg, side(404), side(200))).toBe(Verdict.Match);
    expect<Verdict>(judge(cfg, side(200), side(0))).toBe(
      Verdict.StatusMismatch,
    );
    const body = cfgOf('{"status":"off","body":true}');
    expect<Verdict>(judge(body, side(204, 7), side(0, 7))).toBe(
      Verdict.StatusMismatch,
    );
  });

  it("ignore_statuses: the live status only, before anything else", () => {
    const cfg = cfgOf('{"ignore_statuses":[503],"body":true}');
    expect<Verdict>(judge(cfg, side(503), side(200))).toBe(Verdict.Ignored);
    expect<Verdict>(judge(cfg, side(503), side(0))).toBe(Verdict.Ignored);
    expect<Verdict>(judge(cfg, side(503, 1), side(503, 2))).toBe(
      Verdict.Ignored,
    );
    expect<Verdict>(judge(cfg, side(200), side(503))).toBe(
      Verdict.StatusMismatch,
    );
  });

  it("headers: by value, absent differs from present, after the status", () => {
    const cfg = cfgOf('{"headers":["content-type","x-version"],"body":true}');
    expect<Verdict>(
      judge(cfg, side(200, 1, [5, 0]), side(200, 1, [5, 0])),
    ).toBe(Verdict.Match);
    expect<Verdict>(
      judge(cfg, side(200, 1, [5, 7]), side(200, 1, [5, 8])),
    ).toBe(Verdict.HeaderMismatch);
    expect<Verdict>(
      judge(cfg, side(200, 1, [5, 7]), side(200, 1, [5, 0])),
    ).toBe(Verdict.HeaderMismatch);
    expect<Verdict>(
      judge(cfg, side(200, 1, [5, 7]), side(500, 1, [6, 7])),
    ).toBe(Verdict.StatusMismatch);
    expect<Verdict>(
      judge(cfg, side(200, 1, [5, 7]), side(200, 2, [6, 7])),
    ).toBe(Verdict.HeaderMismatch);
  });

  it("bodies: exact by their hash, only once statuses and headers agree", () => {
    const cfg = cfgOf('{"body":"exact"}');
    expect<Verdict>(judge(cfg, side(200, 9), side(200, 9))).toBe(Verdict.Match);
    expect<Verdict>(judge(cfg, side(200, 9), side(200, 8))).toBe(
      Verdict.BodyMismatch,
    );
    expect<Verdict>(judge(cfg, side(200, 9), side(404, 8))).toBe(
      Verdict.StatusMismatch,
    );
  });

  it("bodies over max_body_bytes on either side are not compared", () => {
    const cfg = cfgOf('{"body":"exact"}');
    const big = side(200, 9);
    big.tooLarge = true;
    expect<Verdict>(judge(cfg, big, side(200, 9))).toBe(Verdict.TooLarge);
    expect<Verdict>(judge(cfg, side(200, 9), big)).toBe(Verdict.TooLarge);
    expect<Verdict>(judge(cfg, big, side(500))).toBe(Verdict.StatusMismatch);
    const json = cfgOf('{"body":"json"}');
    expect<Verdict>(judge(json, big, jsonSide(json, 200, "{}"))).toBe(
      Verdict.TooLarge,
    );
  });

  it("bodies: canonical JSON", () => {
    const cfg = cfgOf('{"body":"json","ignore":["/**/ts"]}');
    expect<Verdict>(
      judge(
        cfg,
        json(cfg, '{"a":1,"b":2}'),
        json(cfg, '{ "b" : 2.0, "a" : 1e0 }'),
      ),
    ).toBe(Verdict.Match);
    expect<Verdict>(
      judge(cfg, json(cfg, '{"a":1,"ts":1}'), json(cfg, '{"a":1,"ts":2}')),
    ).toBe(Verdict.Match);
    expect<Verdict>(
      judge(cfg, json(cfg, '{"a":{"ts":1}}'), json(cfg, '{"a":{}}')),
    ).toBe(Verdict.Match);
    expect<Verdict>(
      judge(cfg, json(cfg, '{"a":1}'), json(cfg, '{"a":2}')),
    ).toBe(Verdict.BodyMismatch);
    expect<Verdict>(judge(cfg, json(cfg, '"\\u00e9"'), json(cfg, '"é"'))).toBe(
      Verdict.Match,
    );
    expect<Verdict>(judge(cfg, json(cfg, ""), json(cfg, " "))).toBe(
      Verdict.Match,
    );
    expect<Verdict>(judge(cfg, json(cfg, ""), json(cfg, "null"))).toBe(
      Verdict.BodyMismatch,
    );
    expect<Verdict>(judge(cfg, json(cfg, "{}"), json(cfg, "[]"))).toBe(
      Verdict.BodyMismatch,
    );
  });

  it("bodies: invalid JSON on either side is json_invalid, unless the bytes are equal", () => {
    const cfg = cfgOf('{"body":"json"}');
    expect<Verdict>(judge(cfg, json(cfg, "{"), json(cfg, "{}"))).toBe(
      Verdict.JsonInvalid,
    );
    expect<Verdict>(judge(cfg, json(cfg, "{}"), json(cfg, "{"))).toBe(
      Verdict.JsonInvalid,
    );
    expect<Verdict>(judge(cfg, json(cfg, "oops"), json(cfg, "oops"))).toBe(
      Verdict.Match,
    );
    expect<Verdict>(judge(cfg, json(cfg, "oops"), json(cfg, "oops!"))).toBe(
      Verdict.JsonInvalid,
    );
    expect<Verdict>(judge(cfg, json(cfg, "{} {}"), json(cfg, "{}"))).toBe(
      Verdict.JsonInvalid,
    );
  });

  it("bodies: nesting deeper than 128 is too_deep, before invalid", () => {
    const cfg = cfgOf('{"body":"json"}');
    const deep = "[".repeat(129) + "]".repeat(129);
    const ok = "[".repeat(128) + "]".repeat(128);
    expect<Verdict>(judge(cfg, json(cfg, deep), json(cfg, deep))).toBe(
      Verdict.TooDeep,
    );
    expect<Verdict>(judge(cfg, json(cfg, ok), json(cfg, deep))).toBe(
      Verdict.TooDeep,
    );
    expect<Verdict>(judge(cfg, json(cfg, deep), json(cfg, "{"))).toBe(
      Verdict.TooDeep,
    );
    expect<Verdict>(judge(cfg, json(cfg, ok), json(cfg, ok))).toBe(
      Verdict.Match,
    );
  });

  it("names each verdict as the sample line does", () => {
    expect<string>(verdictName(Verdict.Match)).toBe("match");
    expect<string>(verdictName(Verdict.StatusMismatch)).toBe("status_mismatch");
    expect<string>(verdictName(Verdict.HeaderMismatch)).toBe("header_mismatch");
    expect<string>(verdictName(Verdict.BodyMismatch)).toBe("body_mismatch");
    expect<string>(verdictName(Verdict.JsonInvalid)).toBe("json_invalid");
  });
});

// ----- gRPC statuses and the baseline -------------------------------------------------------------

/** A gRPC answer: HTTP 200 with this grpc-status. */
function grpc(code: i32): Side {
  const s = side(200);
  s.grpc = code;
  return s;
}

/** A 200 JSON answer with its sketch, as the filter keeps it when there is a baseline. */
function sketched(cfg: Config, body: string): Side {
  const d = new JsonDigest(cfg.ignoreRules, true);
  const b = String.UTF8.encode(body);
  d.update(changetype<usize>(b), <u32>b.byteLength);
  d.finish();
  const s = new Side();
  s.reset(0);
  s.status = 200;
  s.json = d.state;
  s.digest = d.digest;
  s.exact = d.exact;
  const sk = new StaticArray<u64>(SKETCH_SLOTS);
  d.sketchInto(sk);
  s.sketch = sk;
  return s;
}

describe("judge: gRPC", () => {
  it("compares grpc-status exactly, and by class (ok vs error)", () => {
    const exact = cfgOf("{}");
    expect<Verdict>(judge(exact, grpc(0), grpc(0))).toBe(Verdict.Match);
    expect<Verdict>(judge(exact, grpc(0), grpc(14))).toBe(
      Verdict.StatusMismatch,
    );
    expect<Verdict>(judge(exact, grpc(5), grpc(14))).toBe(
      Verdict.StatusMismatch,
    );
    const cls = cfgOf('{"status":"class"}');
    expect<Verdict>(judge(cls, grpc(5), grpc(14))).toBe(Verdict.Match);
    expect<Verdict>(judge(cls, grpc(0), grpc(14))).toBe(Verdict.StatusMismatch);
    // a gRPC answer and a plain one agree only when both are ok
    expect<Verdict>(judge(cls, side(200), grpc(0))).toBe(Verdict.Match);
  });
});

describe("judgeAgainstBaseline", () => {
  it("a status difference counts only where the baseline's status is live's", () => {
    const cfg = cfgOf("{}");
    const v = judge(cfg, side(200), side(201));
    expect<Verdict>(
      judgeAgainstBaseline(cfg, v, side(200), side(201), side(200)),
    ).toBe(Verdict.StatusMismatch);
    expect<Verdict>(
      judgeAgainstBaseline(cfg, v, side(200), side(201), side(202)),
    ).toBe(Verdict.Match);
  });

  it("a baseline whose status is not live's says nothing of the headers and body: not judged", () => {
    const cfg = cfgOf('{"headers":["etag"]}');
    const v = judge(cfg, side(200, 1, [1]), side(200, 1, [2]));
    expect<Verdict>(v).toBe(Verdict.HeaderMismatch);
    expect<Verdict>(
      judgeAgainstBaseline(
        cfg,
        v,
        side(200, 1, [1]),
        side(200, 1, [2]),
        side(204, 1, [1]),
      ),
    ).toBe(Verdict.Ignored);
  });

  it("noisy headers cancel, and then the bodies decide", () => {
    const cfg = cfgOf('{"headers":["etag","x"],"body":"exact"}');
    const live = side(200, 7, [1, 5]);
    const base = side(200, 7, [2, 5]);
    const v = judge(cfg, live, side(200, 8, [3, 5]));
    expect<Verdict>(
      judgeAgainstBaseline(cfg, v, live, side(200, 8, [3, 5]), base),
    ).toBe(Verdict.BodyMismatch);
    expect<Verdict>(
      judgeAgainstBaseline(cfg, v, live, side(200, 7, [3, 5]), base),
    ).toBe(Verdict.Match);
    expect<Verdict>(
      judgeAgainstBaseline(cfg, v, live, side(200, 7, [3, 6]), base),
    ).toBe(Verdict.HeaderMismatch);
  });

  it("JSON bodies: a field the baseline also changes cancels; another field does not", () => {
    const cfg = cfgOf('{"body":"json"}');
    const live = sketched(cfg, '{"id":"l","total":10,"items":[1,2]}');
    const base = sketched(cfg, '{"id":"b","total":10,"items":[1,2]}');
    const same = sketched(cfg, '{"id":"c","total":10,"items":[1,2]}');
    const changed = sketched(cfg, '{"id":"c","total":11,"items":[1,2]}');
    expect<Verdict>(
      judgeAgainstBaseline(cfg, Verdict.BodyMismatch, live, same, base),
    ).toBe(Verdict.Match);
    expect<Verdict>(
      judgeAgainstBaseline(cfg, Verdict.BodyMismatch, live, changed, base),
    ).toBe(Verdict.BodyMismatch);
    // a baseline equal to live: any difference is the candidate's
    expect<Verdict>(
      judgeAgainstBaseline(cfg, Verdict.BodyMismatch, live, same, live),
    ).toBe(Verdict.BodyMismatch);
  });

  it("exact bodies: a whole-body difference the baseline shares cancels", () => {
    const cfg = cfgOf('{"body":"exact"}');
    expect<Verdict>(
      judgeAgainstBaseline(
        cfg,
        Verdict.BodyMismatch,
        side(200, 1),
        side(200, 2),
        side(200, 3),
      ),
    ).toBe(Verdict.Match);
    expect<Verdict>(
      judgeAgainstBaseline(
        cfg,
        Verdict.BodyMismatch,
        side(200, 1),
        side(200, 2),
        side(200, 1),
      ),
    ).toBe(Verdict.BodyMismatch);
  });
});
