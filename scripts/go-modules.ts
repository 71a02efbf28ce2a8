// Files of published Go modules, read from the Go module proxy as `go` itself would fetch them:
// one zip per pinned version, checked against its sha256 and cached under node_modules/.cache on
// first use. The tests read Argo Rollouts' and Flagger's CRD schemas and Istio's bootstrap
// template this way; nothing of theirs is committed here.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { REPO_ROOT } from "./envoy.ts";

/** One module version, pinned by the sha256 of the proxy's zip. */
export interface GoModulePin {
  module: string;
  version: string;
  sha256: string;
}

/** Argo Rollouts, whose manifests/crds/ hold the AnalysisTemplate CRD. */
export const ARGO_ROLLOUTS: GoModulePin = {
  module: "github.com/argoproj/argo-rollouts",
  version: "v1.10.2",
  sha256: "dc4ddb140e7d043e8cc13b97d53cfa1726ecd9472d636c41da2a2961edb0b71e",
};

/** Flagger, whose artifacts/flagger/crd.yaml holds the MetricTemplate and Canary CRDs. */
export const FLAGGER: GoModulePin = {
  module: "github.com/fluxcd/flagger",
  version: "v1.36.1",
  sha256: "445219d85ed919c746ac82a8ad87f3745b8a6702e2a31ff6b5deae3f651744c6",
};

/**
 * Istio, on its release-1.31 branch (istio.io/istio has no semver tags: its versions on the
 * proxy are pseudo-versions of commits; this one requires istio.io/api v1.31.0-rc.0+).
 */
export const ISTIO: GoModulePin = {
  module: "istio.io/istio",
  version: "v0.0.0-20260827124520-eed52ebb66ad",
  sha256: "2bc363619587a8b126791013a97f4c6fefbacbf475fba98a72d79601d7403225",
};

const CACHE = join(REPO_ROOT, "node_modules", ".cache", "proxy-wasm-mirror");

/** The first GOPROXY entry that is a URL (proxy.golang.org by default). */
export function goProxy(): string {
  const list = (process.env.GOPROXY ?? "https://proxy.golang.org").split(
    /[,|]/,
  );
  return (
    list.find((p) => /^https?:\/\//.test(p)) ?? "https://proxy.golang.org"
  ).replace(/\/$/, "");
}

/** A module path as the proxy spells it (upper-case letters become "!" + lower case). */
const escapePath = (p: string) =>
  p.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function moduleZip(pin: GoModulePin): Promise<Buffer> {
  const path = join(
    CACHE,
    `${pin.module.replace(/[^A-Za-z0-9.-]/g, "_")}@${pin.version}.zip`,
  );
  if (existsSync(path)) {
    const cached = readFileSync(path);
    if (sha(cached) === pin.sha256) return cached;
  }
  const url = `${goProxy()}/${escapePath(pin.module)}/@v/${escapePath(pin.version)}.zip`;
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new Error(
      `go-modules: cannot fetch ${url} (${err instanceof Error ? err.message : err}); set GOPROXY to a reachable Go module proxy`,
    );
  }
  if (!res.ok) throw new Error(`go-modules: ${url} answered ${res.status}`);
  const zip = Buffer.from(await res.arrayBuffer());
  if (sha(zip) !== pin.sha256)
    throw new Error(
      `go-modules: ${url} has sha256 ${sha(zip)}, expected ${pin.sha256}`,
    );
  mkdirSync(CACHE, { recursive: true });
  writeFileSync(path, zip);
  return zip;
}

/** Files of a pinned module by their path inside it; throws if one is missing. */
export async function goModuleFiles(
  pin: GoModulePin,
  paths: readonly string[],
): Promise<Record<string, string>> {
  const prefix = `${pin.module}@${pin.version}/`;
  const wanted = new Set(paths.map((p) => prefix + p));
  const files = unzipSync(new Uint8Array(await moduleZip(pin)), {
    filter: (f) => wanted.has(f.name),
  });
  const out: Record<string, string> = {};
  for (const p of paths) {
    const f = files[prefix + p];
    if (!f)
      throw new Error(`go-modules: ${pin.module}@${pin.version} has no ${p}`);
    out[p] = Buffer.from(f).toString("utf8");
  }
  return out;
}

/** "Go module github.com/x/y v1.2.3" */
export const pinText = (pin: GoModulePin) =>
  `Go module ${pin.module} ${pin.version}`;
