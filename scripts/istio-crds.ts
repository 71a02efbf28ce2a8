// Istio's published CRD schemas for the kinds shipped in istio/ (WasmPlugin, EnvoyFilter), read
// from the Go module `istio.io/api` as the Go module proxy serves it: one pinned zip, checked by
// its sha256, cached under node_modules/.cache on first use (as Envoy comes from PyPI). Nothing of
// Istio's is committed here.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { parseAllDocuments } from "yaml";
import { REPO_ROOT } from "./envoy.ts";

/** The Istio API release whose CRDs the manifests are checked against. */
export const ISTIO_API_VERSION = "v1.31.4";
const ZIP_SHA256 =
  "c438b1b5f156415528cc44d68c07aa0f2e5a9f38a7add74aba7b0235aac6ccd5";
const CRD_FILE = `istio.io/api@${ISTIO_API_VERSION}/kubernetes/customresourcedefinitions.gen.yaml`;
const CACHE = join(REPO_ROOT, "node_modules", ".cache", "proxy-wasm-mirror");
/** The kinds checked, as "apiVersion kind". */
export const ISTIO_KINDS = [
  "extensions.istio.io/v1alpha1 WasmPlugin",
  "networking.istio.io/v1alpha3 EnvoyFilter",
];

type JsonObject = Record<string, unknown>;

export interface CrdSchemas {
  source: string;
  schemas: Record<string, JsonObject>;
}

/** The first GOPROXY entry that is a URL (proxy.golang.org by default). */
function goProxy(): string {
  const list = (process.env.GOPROXY ?? "https://proxy.golang.org").split(
    /[,|]/,
  );
  return (
    list.find((p) => /^https?:\/\//.test(p)) ?? "https://proxy.golang.org"
  ).replace(/\/$/, "");
}

async function moduleZip(): Promise<Buffer> {
  const path = join(CACHE, `istio.io-api-${ISTIO_API_VERSION}.zip`);
  const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
  if (existsSync(path)) {
    const cached = readFileSync(path);
    if (sha(cached) === ZIP_SHA256) return cached;
  }
  const url = `${goProxy()}/istio.io/api/@v/${ISTIO_API_VERSION}.zip`;
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new Error(
      `istio-crds: cannot fetch ${url} (${err instanceof Error ? err.message : err}): Istio's CRD schemas come from the Go module proxy; set GOPROXY to a reachable one`,
    );
  }
  if (!res.ok) throw new Error(`istio-crds: ${url} answered ${res.status}`);
  const zip = Buffer.from(await res.arrayBuffer());
  if (sha(zip) !== ZIP_SHA256)
    throw new Error(
      `istio-crds: ${url} has sha256 ${sha(zip)}, expected ${ZIP_SHA256}`,
    );
  mkdirSync(CACHE, { recursive: true });
  writeFileSync(path, zip);
  return zip;
}

let loaded: Promise<CrdSchemas> | undefined;

/** The openAPIV3Schema of each kind in ISTIO_KINDS, from Istio's own CRD file. */
export function istioCrdSchemas(): Promise<CrdSchemas> {
  loaded ??= (async () => {
    const files = unzipSync(new Uint8Array(await moduleZip()), {
      filter: (f) => f.name === CRD_FILE,
    });
    const text = Buffer.from(files[CRD_FILE]).toString("utf8");
    const schemas: Record<string, JsonObject> = {};
    for (const doc of parseAllDocuments(text)) {
      const crd = doc.toJS() as any;
      if (crd?.kind !== "CustomResourceDefinition") continue;
      for (const v of crd.spec?.versions ?? []) {
        const key = `${crd.spec.group}/${v.name} ${crd.spec.names.kind}`;
        if (ISTIO_KINDS.includes(key))
          schemas[key] = v.schema.openAPIV3Schema as JsonObject;
      }
    }
    for (const k of ISTIO_KINDS)
      if (!schemas[k]) throw new Error(`istio-crds: ${CRD_FILE} has no ${k}`);
    return {
      source: `Go module istio.io/api ${ISTIO_API_VERSION}, kubernetes/customresourcedefinitions.gen.yaml`,
      schemas,
    };
  })();
  return loaded;
}
