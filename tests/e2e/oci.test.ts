// The Wasm OCI image of scripts/oci.ts, read back by independent tools: skopeo (Debian's) inspects
// the layout and copies it as a push would, GNU tar lists and extracts the layer. The layer holds
// exactly plugin.wasm with fixed metadata, plugin.wasm is build/mirror.wasm byte for byte, two
// runs give the same digests, and the WasmPlugin rendered for the image carries its digest.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { parse as parseYaml } from "yaml";
import { toolOrSkip } from "../support/provision.ts";
import { RELEASE_WASM as WASM, REPO_ROOT } from "../../tools/paths.ts";

const run = promisify(execFile);
const TAG = "0.1.0";
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/**
 * skopeo (Debian's package) is installed on first use, as Envoy is (tools/provision/debian.ts); the cases
 * skip only where it can't be installed locally, and under CI nothing is skipped.
 */
const skopeoTool = toolOrSkip("skopeo");
const noSkopeo = skopeoTool.skip ?? false;

/** What `scripts/oci.ts --json` prints. */
interface OciRun {
  layout: string;
  reference: string;
  wasmSha256: string;
  layerDigest: string;
  layerSize: number;
  configDigest: string;
  manifestDigest: string;
}

/** Runs the project script the way users do; returns its JSON summary. */
async function ociScript(out: string, ...args: string[]): Promise<OciRun> {
  const { stdout } = await run(
    process.execPath,
    ["--import", "tsx", "scripts/oci.ts", "--out", out, "--json", ...args],
    { cwd: REPO_ROOT },
  );
  return JSON.parse(stdout) as OciRun;
}

async function skopeo(...args: string[]): Promise<string> {
  return (await run(skopeoTool.path ?? "skopeo", args)).stdout;
}

const blobPath = (layout: string, digest: string) =>
  join(layout, "blobs", "sha256", digest.replace(/^sha256:/, ""));

/** Every file of a layout (relative path → sha256), to compare two layouts byte for byte. */
function layoutHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p);
      else out[p] = sha256(readFileSync(join(dir, p)));
    }
  };
  walk("");
  return out;
}

let work: string;
let first: OciRun;
let second: OciRun;

before(async () => {
  assert.ok(existsSync(WASM), "build/mirror.wasm is missing: npm run build");
  work = mkdtempSync(join(tmpdir(), "mirror-oci-"));
  [first, second] = await Promise.all([
    ociScript(join(work, "a")),
    ociScript(join(work, "b")),
  ]);
});

after(() => rmSync(work, { recursive: true, force: true }));

test("two runs on the same wasm give the same digests and byte-identical layouts", () => {
  const { layout: _a, reference: _ra, ...a } = first;
  const { layout: _b, reference: _rb, ...b } = second;
  assert.deepEqual(a, b);
  assert.deepEqual(layoutHashes(first.layout), layoutHashes(second.layout));
  const blobs = [first.configDigest, first.layerDigest, first.manifestDigest];
  assert.deepEqual(
    Object.keys(layoutHashes(first.layout)).sort(),
    [
      ...blobs.map((d) => `blobs/sha256/${d.slice("sha256:".length)}`),
      "index.json",
      "oci-layout",
    ].sort(),
  );
});

test(
  "skopeo inspect reads the layout: the image digest and its one layer",
  { skip: noSkopeo },
  async () => {
    const inspect = JSON.parse(
      await skopeo("inspect", `oci:${first.layout}:${TAG}`),
    ) as { Digest: string; Layers: string[]; LayersData?: Obj[] };
    assert.equal(inspect.Digest, first.manifestDigest);
    assert.deepEqual(inspect.Layers, [first.layerDigest]);
    const raw = JSON.parse(
      await skopeo("inspect", "--raw", `oci:${first.layout}:${TAG}`),
    ) as Obj;
    assert.equal(raw.mediaType, "application/vnd.oci.image.manifest.v1+json");
    assert.equal(
      raw.config.mediaType,
      "application/vnd.oci.image.config.v1+json",
    );
    assert.deepEqual(
      raw.layers.map((l: Obj) => [l.mediaType, l.digest, l.size]),
      [
        [
          "application/vnd.oci.image.layer.v1.tar+gzip",
          first.layerDigest,
          first.layerSize,
        ],
      ],
    );
    assert.deepEqual(raw.annotations, {
      "module.wasm.image/variant": "compat",
    });
  },
);

test(
  "the layer: its digest is its sha256; it holds only plugin.wasm (0/0, 0644, epoch), which is build/mirror.wasm",
  { skip: noSkopeo },
  async () => {
    const inspect = JSON.parse(
      await skopeo("inspect", `oci:${first.layout}:${TAG}`),
    ) as { Layers: string[] };
    const layer = blobPath(first.layout, inspect.Layers[0]);
    assert.equal(`sha256:${sha256(readFileSync(layer))}`, inspect.Layers[0]);
    const { stdout: listing } = await run("tar", [
      "--list",
      "--verbose",
      "--numeric-owner",
      "--full-time",
      "--gzip",
      "--file",
      layer,
    ]);
    assert.match(
      listing.trim(),
      /^-rw-r--r-- 0\/0 +\d+ 1970-01-01 00:00:00 plugin\.wasm$/,
    );
    const plugin = await run("tar", ["-xzOf", layer, "plugin.wasm"], {
      encoding: "buffer",
      maxBuffer: 64 << 20,
    });
    const wasm = readFileSync(WASM);
    assert.equal(sha256(plugin.stdout), sha256(wasm));
    assert.equal(first.wasmSha256, sha256(wasm));
    // The compat layer is a tar.gz: its digest is not the module's sha256, and neither is the
    // image digest a WasmPlugin pins; both differ from it.
    assert.notEqual(first.layerDigest, `sha256:${first.wasmSha256}`);
  },
);

test(
  "skopeo copy --preserve-digests (as a push does) keeps the image digest and verifies every blob",
  { skip: noSkopeo },
  async () => {
    const copy = join(work, "pushed");
    await skopeo(
      "copy",
      "--quiet",
      "--preserve-digests",
      `oci:${first.layout}:${TAG}`,
      `oci:${copy}:${TAG}`,
    );
    const inspect = JSON.parse(
      await skopeo("inspect", `oci:${copy}:${TAG}`),
    ) as {
      Digest: string;
    };
    assert.equal(inspect.Digest, first.manifestDigest);

    // A corrupted layer is refused: skopeo checks each blob against its digest while copying.
    const corrupt = join(work, "corrupt");
    await run("cp", ["-r", first.layout, corrupt]);
    writeFileSync(
      blobPath(corrupt, first.layerDigest),
      Buffer.concat([
        readFileSync(blobPath(corrupt, first.layerDigest)),
        Buffer.from("x"),
      ]),
    );
    await assert.rejects(
      skopeo(
        "copy",
        "--quiet",
        `oci:${corrupt}:${TAG}`,
        `dir:${join(work, "out")}`,
      ),
      /Digest did not match/,
    );
  },
);

test("the smallest module gives the digests pinned here, on any machine and Node", async () => {
  // Fixed tar metadata, fflate's deflate and canonical JSON: nothing depends on the machine, the
  // clock or zlib's build. A change here changes every published image digest: do it on purpose.
  const empty = join(work, "empty.wasm");
  writeFileSync(empty, Buffer.from("0061736d01000000", "hex"));
  const pinned = await ociScript(join(work, "empty"), "--wasm", empty);
  assert.deepEqual(
    {
      layer: pinned.layerDigest,
      config: pinned.configDigest,
      image: pinned.manifestDigest,
    },
    {
      layer:
        "sha256:ff86e2dfd3f9865210fbde7c4ea0d8f8e0d13d97c3d6784654f989e25205a885",
      config:
        "sha256:cea4ed1c3a992793a827c3963d3f8a59187b93d679a1ebc0b844c01bb97c4526",
      image:
        "sha256:7145a58e43023e2928b2e4ea3f4682be4edfaa72af296b0ad2b46a60c19e7ba2",
    },
  );
});

test("a different wasm gives a different image digest", async () => {
  const other = join(work, "other.wasm");
  writeFileSync(other, Buffer.concat([readFileSync(WASM), Buffer.from([0])]));
  const changed = await ociScript(join(work, "c"), "--wasm", other);
  assert.notEqual(changed.manifestDigest, first.manifestDigest);
  assert.notEqual(changed.layerDigest, first.layerDigest);
  assert.notEqual(changed.configDigest, first.configDigest);
});

test("the script refuses to replace a directory that is not an OCI layout", async () => {
  const dir = join(work, "precious");
  mkdirSync(dir);
  writeFileSync(join(dir, "keep.txt"), "mine");
  await assert.rejects(ociScript(dir), /is not an OCI layout: refusing/);
  assert.equal(readFileSync(join(dir, "keep.txt"), "utf8"), "mine");
});

test("scripts/istio-config.ts --image renders the WasmPlugin with the image's digest as sha256", async () => {
  const { stdout } = await run(
    process.execPath,
    [
      "--import",
      "tsx",
      "scripts/istio-config.ts",
      "--image",
      "registry.example.com/team/proxy-wasm-mirror:0.1.0",
    ],
    { cwd: REPO_ROOT },
  );
  const plugin = parseYaml(stdout) as Obj;
  assert.equal(plugin.kind, "WasmPlugin");
  assert.equal(
    plugin.spec.url,
    "oci://registry.example.com/team/proxy-wasm-mirror:0.1.0",
  );
  assert.equal(
    plugin.spec.sha256,
    first.manifestDigest.slice("sha256:".length),
  );
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;
