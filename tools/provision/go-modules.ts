/**
 * Files of published Go modules, read from the Go module proxy as `go` itself would fetch them:
 * one zip per pinned version, checked against its sha256 and cached on first use. `npm run istio`
 * checks its manifests against Istio's CRD schemas this way, and the tests read Argo Rollouts' and
 * Flagger's CRD schemas and Istio's bootstrap template; nothing of theirs is committed here.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { CACHE_DIR } from "../paths.ts";

/** One module version, pinned by the sha256 of the proxy's zip. */
export interface GoModulePin {
  module: string;
  version: string;
  sha256: string;
}

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
    CACHE_DIR,
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
  mkdirSync(CACHE_DIR, { recursive: true });
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
