// Packs build/mirror.wasm as a Wasm OCI image in Istio's "compat" variant and writes it as an OCI
// image layout (a directory skopeo, oras and crane read as `oci:DIR:TAG`), without a Docker engine.
// Reproducible: the same wasm gives byte-identical blobs and so the same digests on every machine
// (fixed tar metadata, pure-JS gzip with a zero timestamp, canonical JSON, no dates anywhere).
//
//   npm run oci -- [--wasm build/mirror.wasm] [--out build/oci] [--tag 0.1.0] [--json]
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "fflate";
import { ensureBuild } from "../tools/build.ts";
import { RELEASE_WASM, repoText, shownPath, userPath } from "../tools/paths.ts";
import { Header } from "tar";
import { isMain } from "../tools/command.ts";

/**
 * Media types of the compat variant (solo-io/wasm `spec/spec-compat.md`, read by Istio's
 * `pkg/wasm/imagefetcher.go`): an OCI manifest whose single layer is a gzipped tar holding
 * `plugin.wasm`, annotated `module.wasm.image/variant: compat`.
 */
export const MEDIA_TYPES = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

/** The file Istio extracts from the layer (any other name is ignored by its fetcher). */
export const PLUGIN_FILE = "plugin.wasm";
/** Manifest annotation the compat spec requires with the OCI layer media type. */
export const VARIANT_ANNOTATION = { "module.wasm.image/variant": "compat" };
/** The tag written into index.json: the package version. */
export const DEFAULT_TAG = (
  JSON.parse(repoText("package.json")) as {
    version: string;
  }
).version;

/** Metadata of the one tar entry: nothing taken from the machine or the clock. */
const TAR_ENTRY = {
  mode: 0o644,
  uid: 0,
  gid: 0,
  uname: "",
  gname: "",
  mtime: new Date(0),
} as const;

/** An OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** The image in memory: every blob by digest, and the descriptors that tie them together. */
export interface WasmImage {
  /** Hex sha256 of the wasm module itself (what `plugin.wasm` in the layer hashes to). */
  wasmSha256: string;
  wasmSize: number;
  config: Descriptor;
  layer: Descriptor;
  manifest: Descriptor;
  /** digest ("sha256:…") → bytes, for the config, the layer and the manifest. */
  blobs: Map<string, Buffer>;
}

const sha256Hex = (b: Uint8Array) =>
  createHash("sha256").update(b).digest("hex");

function blob(
  blobs: Map<string, Buffer>,
  mediaType: string,
  bytes: Buffer,
): Descriptor {
  const digest = `sha256:${sha256Hex(bytes)}`;
  blobs.set(digest, bytes);
  return { mediaType, digest, size: bytes.length };
}

/** A ustar archive of one regular file with fixed metadata, ended by two zero blocks. */
export function tarOne(name: string, data: Buffer): Buffer {
  const header = Buffer.alloc(512);
  new Header({
    path: name,
    type: "File",
    size: data.length,
    ...TAR_ENTRY,
  }).encode(header, 0);
  const pad = (512 - (data.length % 512)) % 512;
  return Buffer.concat([header, data, Buffer.alloc(pad), Buffer.alloc(1024)]);
}

/** Builds the compat-variant image of `wasm`; the result depends on the wasm bytes only. */
export function buildWasmImage(wasm: Buffer): WasmImage {
  if (wasm.length < 8 || wasm.readUInt32BE(0) !== 0x0061736d)
    throw new Error("not a Wasm module (no \\0asm magic)");
  const blobs = new Map<string, Buffer>();
  const tar = tarOne(PLUGIN_FILE, wasm);
  // fflate's deflate is plain JS: the same bytes on every Node and CPU (zlib's output may vary).
  const gz = Buffer.from(gzipSync(tar, { level: 9, mtime: 0 }));
  const layer = blob(blobs, MEDIA_TYPES.layer, gz);
  const configJson = {
    architecture: "wasm",
    os: "wasip1",
    config: {},
    rootfs: { type: "layers", diff_ids: [`sha256:${sha256Hex(tar)}`] },
  };
  const config = blob(
    blobs,
    MEDIA_TYPES.config,
    Buffer.from(JSON.stringify(configJson)),
  );
  const manifestJson = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config,
    layers: [layer],
    annotations: VARIANT_ANNOTATION,
  };
  const manifest = blob(
    blobs,
    MEDIA_TYPES.manifest,
    Buffer.from(JSON.stringify(manifestJson)),
  );
  return {
    wasmSha256: sha256Hex(wasm),
    wasmSize: wasm.length,
    config,
    layer,
    manifest,
    blobs,
  };
}

/**
 * Writes `image` as an OCI image layout in `dir` with `tag` as its ref name. The directory is
 * replaced if it is empty or already an OCI layout; anything else is refused, never deleted.
 */
export function writeOciLayout(dir: string, image: WasmImage, tag: string) {
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(tag))
    throw new Error(`invalid tag ${JSON.stringify(tag)}`);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    if (!existsSync(join(dir, "oci-layout")))
      throw new Error(
        `${dir} exists and is not an OCI layout: refusing to overwrite it`,
      );
    rmSync(dir, { recursive: true });
  }
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
  for (const [digest, bytes] of image.blobs)
    writeFileSync(
      join(dir, "blobs", "sha256", digest.slice("sha256:".length)),
      bytes,
    );
  writeFileSync(
    join(dir, "oci-layout"),
    JSON.stringify({ imageLayoutVersion: "1.0.0" }),
  );
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: [
      {
        ...image.manifest,
        annotations: { "org.opencontainers.image.ref.name": tag },
      },
    ],
  };
  writeFileSync(join(dir, "index.json"), JSON.stringify(index));
}

/** Digest without its `sha256:` prefix: what a WasmPlugin's `sha256` field takes. */
export const hexOf = (digest: string) => digest.replace(/^sha256:/, "");

export const USAGE = `usage: npm run oci -- [--wasm FILE] [--out DIR] [--tag TAG] [--json]

Packs the module as a Wasm OCI image in Istio's compat variant and writes it as an OCI image
layout, without a Docker engine; prints its digests (the image digest is a WasmPlugin's sha256).

  --wasm FILE   the module        [build/mirror.wasm, built first if missing or stale]
  --out DIR     the image layout  [build/oci]
  --tag TAG     its tag           [${DEFAULT_TAG}]
  --json        print the digests as JSON
  -h, --help
`;

class UsageError extends Error {}

function main(): void {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        wasm: { type: "string" },
        out: { type: "string", default: "build/oci" },
        tag: { type: "string", default: DEFAULT_TAG },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (npm run oci -- --help)`);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (values.wasm === undefined) ensureBuild();
  const wasmPath =
    values.wasm === undefined ? RELEASE_WASM : userPath(values.wasm);
  if (!existsSync(wasmPath))
    throw new Error(`${shownPath(wasmPath)} is missing`);
  const image = buildWasmImage(readFileSync(wasmPath));
  const out = userPath(values.out);
  writeOciLayout(out, image, values.tag);
  const shown = shownPath(out);
  if (values.json) {
    console.log(
      JSON.stringify({
        layout: out,
        tag: values.tag,
        reference: `oci:${out}:${values.tag}`,
        wasmSha256: image.wasmSha256,
        wasmSize: image.wasmSize,
        layerDigest: image.layer.digest,
        layerSize: image.layer.size,
        configDigest: image.config.digest,
        manifestDigest: image.manifest.digest,
        manifestSize: image.manifest.size,
      }),
    );
    return;
  }
  console.log(
    summaryLines(shown, shownPath(wasmPath), values.tag, image).join("\n"),
  );
}

/** What `npm run oci` prints for `image` written to `layout` (both paths as shown) with `tag`. */
export function summaryLines(
  layout: string,
  wasm: string,
  tag: string,
  image: WasmImage,
): string[] {
  return [
    `${layout}: OCI image layout of ${wasm}, Istio Wasm image (compat variant), tag ${tag}`,
    `  plugin.wasm  sha256 ${image.wasmSha256} (${image.wasmSize} B)`,
    `  layer        ${image.layer.digest} (${MEDIA_TYPES.layer}, ${image.layer.size} B)`,
    `  image        ${image.manifest.digest}`,
    `WasmPlugin:  sha256: ${hexOf(image.manifest.digest)}   (Istio checks an oci:// module against the image digest)`,
    `Push:        skopeo copy --preserve-digests oci:${layout}:${tag} docker://REGISTRY/proxy-wasm-mirror:${tag}`,
  ];
}

if (isMain(import.meta.url)) {
  try {
    main();
  } catch (err) {
    console.error(`oci: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  }
}
