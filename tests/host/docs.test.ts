/**
 * The README is a front door and docs/ the reference: the README stays short, lists every
 * docs file and shows a sample of `npm start` whose counts add up, each docs file opens with a table of contents of its own sections, every relative
 * link (file and #anchor) leads somewhere, prose lines are wrapped, and the layout table of
 * docs/development.md names every top-level folder and every file of the folders it lists,
 * as `git ls-files` sees the tree.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { FULL_RUN_TIME, RELEASE_WASM_BUDGET_KIB } from "../../bench/report.ts";
import { demoSummaries, summaryGaps } from "./demo-summary.ts";
import { REPO_ROOT, repoText } from "../../tools/paths.ts";

/** README.md caps its length at about a screenful of screens. */
const README_MAX_LINES = 250;
/** Prose (outside tables and code blocks) is wrapped at this many columns. */
const PROSE_COLUMNS = 100;

/**
 * Files the README links to that another branch is writing: each may be missing until it lands
 * (then it is checked like any other page, and can leave this list).
 */
const PENDING: string[] = [];

const DOCS = readdirSync(join(REPO_ROOT, "docs"))
  .filter((f) => f.endsWith(".md"))
  .map((f) => `docs/${f}`);
/** Every Markdown page whose links are checked. */
const PAGES = ["README.md", ...DOCS, "istio/README.md", "gates/README.md"];

/** The lines of `text` outside fenced code blocks, with their numbers. */
function outsideCode(text: string): { line: string; n: number }[] {
  const out: { line: string; n: number }[] = [];
  let fenced = false;
  text.split("\n").forEach((line, i) => {
    if (/^\s*```/.test(line)) fenced = !fenced;
    else if (!fenced) out.push({ line, n: i + 1 });
  });
  return out;
}

/** The headings of a page: level and text. */
function headings(text: string): { level: number; text: string }[] {
  return outsideCode(text)
    .map(({ line }) => /^(#{1,6}) (.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ level: m[1].length, text: m[2].trim() }));
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as `-`. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors of a page, with GitHub's `-1`, `-2` suffixes for repeated headings. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const h of headings(text)) {
    const base = slug(h.text);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** The relative links of a page (`[text](target)`), outside code. */
function links(text: string): { target: string; n: number }[] {
  const out: { target: string; n: number }[] = [];
  for (const { line, n } of outsideCode(text))
    for (const m of line.matchAll(/\]\(([^)\s]+)\)/g))
      if (!/^[a-z]+:/.test(m[1])) out.push({ target: m[1], n });
  return out;
}

/** The items of a page's "## Contents" list: their link targets, in order. */
function contents(text: string): string[] {
  const start = text.indexOf("\n## Contents\n");
  assert.ok(start >= 0, "no ## Contents section");
  const end = text.indexOf("\n## ", start + 1);
  return [...text.slice(start, end).matchAll(/\]\(([^)]+)\)/g)].map(
    (m) => m[1],
  );
}

it("the README is a front door of at most about 250 lines, and its contents list every docs file", () => {
  const readme = repoText("README.md");
  const lines = readme.trimEnd().split("\n").length;
  assert.ok(
    lines <= README_MAX_LINES,
    `README.md has ${lines} lines: move reference text to docs/`,
  );
  const listed = contents(readme);
  for (const doc of [...DOCS, ...PENDING])
    assert.ok(listed.includes(doc), `the README's contents miss ${doc}`);
  for (const h of headings(readme).filter((h) => h.level === 2))
    if (h.text !== "Contents")
      assert.ok(
        listed.includes(`#${slug(h.text)}`),
        `the README's contents miss its section "${h.text}"`,
      );
});

it("the README's sample of npm start adds up: every order sent is mirrored or not, every copy answered", () => {
  const summaries = demoSummaries(repoText("README.md"));
  assert.ok(summaries.length > 0, "the README shows no summary of npm start");
  for (const s of summaries) assert.deepEqual(summaryGaps(s), []);
});

it("every docs file opens with a table of contents listing each of its sections, in order", () => {
  for (const doc of DOCS) {
    const text = repoText(doc);
    const sections = headings(text)
      .filter((h) => h.level >= 2 && h.level <= 3 && h.text !== "Contents")
      .map((h) => `#${slug(h.text)}`);
    const listed = contents(text).filter((t) => t.startsWith("#"));
    // Every second-level section is listed; third-level ones may be, in order.
    const second = headings(text)
      .filter((h) => h.level === 2 && h.text !== "Contents")
      .map((h) => `#${slug(h.text)}`);
    assert.deepEqual(
      listed.filter((t) => second.includes(t)),
      second,
      `${doc}: its contents should list ${second.join(" ")}`,
    );
    assert.deepEqual(
      listed,
      sections.filter((s) => listed.includes(s)),
      `${doc}: its contents list sections it lacks, or out of order`,
    );
  }
});

it("every relative link of the README and the docs leads to a file, and every #anchor to a heading", () => {
  const broken: string[] = [];
  for (const page of PAGES)
    for (const { target, n } of links(repoText(page))) {
      const [path, anchor] = target.split("#");
      const file = path ? join(dirname(page), decodeURI(path)) : page;
      const shown = `${page}:${n}: ${target}`;
      if (!existsSync(join(REPO_ROOT, file))) {
        if (!PENDING.includes(file)) broken.push(`${shown} (no ${file})`);
        continue;
      }
      if (anchor === undefined) continue;
      if (
        !file.endsWith(".md") ||
        statSync(join(REPO_ROOT, file)).isDirectory()
      )
        broken.push(`${shown} (an anchor into a file that is not a page)`);
      else if (!anchors(repoText(file)).has(anchor))
        broken.push(`${shown} (no heading "#${anchor}" in ${file})`);
    }
  assert.deepEqual(broken, []);
});

it("prose in the README and the docs is wrapped at 100 columns (tables and code aside)", () => {
  const long: string[] = [];
  for (const page of PAGES.filter((p) => p !== "gates/README.md"))
    for (const { line, n } of outsideCode(repoText(page)))
      if (
        line.length > PROSE_COLUMNS &&
        !line.startsWith("|") &&
        !line.startsWith("<!--")
      )
        long.push(`${page}:${n}: ${line.length} columns`);
  assert.deepEqual(long, []);
});

/** The repository's files as git sees them (tracked, and untracked but not ignored). */
function trackedFiles(): string[] {
  return execFileSync(
    "git",
    ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    { cwd: REPO_ROOT },
  )
    .toString()
    .split("\0")
    .filter((f) => f && existsSync(join(REPO_ROOT, f)));
}

/** The section of docs/development.md headed `heading`, up to the next heading. */
function layoutSection(heading: string): string {
  const text = repoText("docs/development.md");
  const start = text.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `docs/development.md: no "${heading}"`);
  const end = text.slice(start + 1).search(/\n#{1,3} /);
  return text.slice(start, end < 0 ? undefined : start + 1 + end);
}

/** The first cell of each row of the tables in `section`, as written between backticks. */
function firstCells(section: string): string[] {
  return section
    .split("\n")
    .filter((l) => /^\| `/.test(l))
    .map((l) => /^\| `([^`]+)`/.exec(l)![1]);
}

it("the layout table names every top-level folder of the tree, and no other", () => {
  const files = trackedFiles();
  const folders = [
    ...new Set(
      files.filter((f) => f.includes("/")).map((f) => `${f.split("/")[0]}/`),
    ),
  ].sort();
  assert.deepEqual(
    firstCells(layoutSection("## Layout")).sort(),
    folders,
    "docs/development.md's layout table should have one row per top-level folder",
  );
});

it("the layout's file tables name every file of assembly/, scripts/ and each folder of scripts/, and no other", () => {
  const files = trackedFiles();
  const scriptFolders = [
    ...new Set(
      files
        .filter((f) => f.startsWith("scripts/") && dirname(f) !== "scripts")
        .map((f) => dirname(f)),
    ),
  ];
  for (const folder of ["assembly", "scripts", ...scriptFolders]) {
    const inFolder = files
      .filter((f) => dirname(f) === folder)
      .map((f) => relative(folder, f))
      .sort();
    assert.deepEqual(
      firstCells(layoutSection(`### \`${folder}/\``)).sort(),
      inFolder,
      `docs/development.md's table of ${folder}/ should have one row per file`,
    );
  }
});

it("bench/RESULTS.md states the size budget once, the one the tests enforce, and the full run's time as its usage does", () => {
  const results = repoText("bench/RESULTS.md");
  const sizeRows = results
    .split("\n")
    .filter((l) => /^\| release wasm size \|/.test(l));
  assert.equal(sizeRows.length, 1, sizeRows.join("\n"));
  assert.match(
    sizeRows[0],
    new RegExp(`\\| ≤ ${RELEASE_WASM_BUDGET_KIB} KiB \\|`),
  );
  const times = [
    ...results.matchAll(/\((~?[\d.]+ min[^)]*|about [^)]*minutes[^)]*)\)/g),
  ].map((m) => m[1]);
  assert.deepEqual(times, [FULL_RUN_TIME]);
});

it("every repository path the README and the docs name in code exists", () => {
  const missing: string[] = [];
  const folders =
    /^(\.ci|assembly|bench|docs|envoy|gates|istio|patches|scripts|tests|tools)\/[^\s*{}<>…]*$/;
  for (const page of PAGES)
    for (const { line, n } of outsideCode(repoText(page)))
      for (const m of line.matchAll(/`([^`]+)`/g)) {
        const path = m[1].replace(/[.,:;)]+$/, "");
        if (folders.test(path) && !existsSync(join(REPO_ROOT, path)))
          missing.push(`${page}:${n}: ${path}`);
      }
  assert.deepEqual(missing, []);
});
