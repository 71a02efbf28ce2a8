/**
 * Kubernetes objects checked against their kinds' published CRD schemas: each CRD read from a
 * file of a pinned Go module (tools/provision/go-modules.ts), the version's openAPIV3Schema made
 * strict (unknown fields refused, as the API server's strict field validation refuses them),
 * compiled with ajv and the OpenAPI formats the CRDs use, once per kind. CEL rules
 * (x-kubernetes-validations) are not run. Istio's kinds (scripts/istio-schemas.ts), Gateway API's
 * and Envoy Gateway's (scripts/gateway/crds.ts) and the gates' (tests/e2e/gate-crds.ts) are
 * checked this way; each names only its pins and files.
 */
import { parseAllDocuments } from "yaml";
import { isObject, type Json, type JsonObject } from "./json.ts";
import {
  type GoModulePin,
  goModuleFiles,
  pinText,
} from "./provision/go-modules.ts";

/** Where a kind's CRD is published: a file of a pinned Go module. */
export interface CrdFile {
  pin: GoModulePin;
  file: string;
}

/** A kind's compiled check: an object's schema errors as "path: message" (none: []). */
export interface CrdCheck {
  errors(object: unknown): string[];
  /** Where the schema came from: the module, its version and the file. */
  source: string;
}

/** An object's kind as the checks are keyed: "apiVersion kind". */
export const kindKey = (o: { apiVersion?: unknown; kind?: unknown }) =>
  `${String(o.apiVersion)} ${String(o.kind)}`;

/**
 * A CRD's structural schema as the API server applies it: every object schema that lists its
 * properties and does not preserve unknown fields refuses others (strict field validation).
 */
export function strictSchema(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(strictSchema);
  if (!isObject(schema)) return schema;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(schema))
    out[k] =
      k === "properties" && isObject(v)
        ? Object.fromEntries(
            Object.entries(v).map(([p, s]) => [p, strictSchema(s)]),
          )
        : k === "enum" || k === "required" || k === "default"
          ? v
          : strictSchema(v);
  if (
    isObject(schema.properties) &&
    schema["x-kubernetes-preserve-unknown-fields"] !== true &&
    schema.additionalProperties === undefined
  )
    out.additionalProperties = false;
  return out;
}

/** The openAPIV3Schema of `key` ("group/version Kind") among the CRDs of a YAML file's text. */
export function crdSchema(text: string, key: string): JsonObject | undefined {
  for (const doc of parseAllDocuments(text)) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const crd = doc.toJS() as any;
    if (crd?.kind !== "CustomResourceDefinition") continue;
    for (const v of crd.spec?.versions ?? [])
      if (`${crd.spec.group}/${v.name} ${crd.spec.names?.kind}` === key)
        return v.schema?.openAPIV3Schema;
  }
  return undefined;
}

/** The whole object's schema: the CRD's, with apiVersion, kind, metadata and spec required. */
function objectSchema(key: string, crd: JsonObject): Json {
  const [apiVersion, kind] = key.split(" ");
  return strictSchema({
    ...crd,
    required: ["apiVersion", "kind", "metadata", "spec"],
    properties: {
      ...(crd.properties as JsonObject),
      apiVersion: { type: "string", enum: [apiVersion] },
      kind: { type: "string", enum: [kind] },
      metadata: { type: "object" },
    },
  });
}

interface AjvError {
  instancePath: string;
  message?: string;
  keyword: string;
  params: Record<string, unknown>;
}

/** An ajv error as "path: message", an unknown field by its name. */
const errorText = (e: AjvError) =>
  e.keyword === "additionalProperties"
    ? `${e.instancePath || "/"}: unknown field "${String(e.params.additionalProperty)}"`
    : `${e.instancePath || "/"}: ${e.message}`;

/**
 * The checks of `kinds` (by "apiVersion kind"), read and compiled on the first call and kept:
 * throws if a file lacks its kind's version.
 */
export function crdChecks(
  kinds: Record<string, CrdFile>,
): () => Promise<Map<string, CrdCheck>> {
  let loaded: Promise<Map<string, CrdCheck>> | undefined;
  return () => (loaded ??= compile(kinds));
}

async function compile(
  kinds: Record<string, CrdFile>,
): Promise<Map<string, CrdCheck>> {
  const { Ajv } = await import("ajv");
  const ajv = new Ajv({ allErrors: true, strict: false });
  // The OpenAPI formats these CRDs use, as the API server checks them.
  ajv.addFormat("int32", {
    type: "number",
    validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31,
  });
  ajv.addFormat("int64", { type: "number", validate: Number.isInteger });
  ajv.addFormat("date-time", (s: string) => !Number.isNaN(Date.parse(s)));
  ajv.addFormat("byte", (s: string) => /^[A-Za-z0-9+/]*={0,2}$/.test(s));
  // Flagger's CRD marks strings `format: string` and webhook addresses `format: url`.
  ajv.addFormat("string", true);
  ajv.addFormat("url", (s: string) => URL.canParse(s));
  const texts = new Map<string, Promise<string>>();
  const out = new Map<string, CrdCheck>();
  for (const [key, { pin, file }] of Object.entries(kinds)) {
    const source = `${pinText(pin)}, ${file}`;
    if (!texts.has(source))
      texts.set(
        source,
        goModuleFiles(pin, [file]).then((files) => files[file]),
      );
    const crd = crdSchema(await texts.get(source)!, key);
    if (!crd) throw new Error(`${pinText(pin)} ${file} has no ${key}`);
    const validate = ajv.compile(objectSchema(key, crd) as object);
    out.set(key, {
      errors: (object) =>
        validate(object) ? [] : (validate.errors ?? []).map(errorText),
      source,
    });
  }
  return out;
}
