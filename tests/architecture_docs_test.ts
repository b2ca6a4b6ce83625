/**
 * docs/architecture.md stays the map of the code: it names every module under src/, and it
 * relies on no file outside the repository for its facts.
 */
import { expect } from "expect";

const root = new URL("../", import.meta.url);

/** Every .ts module under src/, relative to src/ (generated client code is named by its folder). */
async function modules(dir = "src/", prefix = ""): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(new URL(dir, root))) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory && path !== "clients/generated") {
      found.push(...await modules(`${dir}${entry.name}/`, `${path}/`));
    } else if (entry.isFile && entry.name.endsWith(".ts")) found.push(path);
  }
  return found.sort();
}

interface Section {
  /** The folders under src/ its heading or a parent heading names ("bulk/" for "`src/bulk/`"), "" for any. */
  folders: string[];
  text: string;
}

/** The document cut at its headings; each section knows the src/ folders of its heading path. */
function sections(doc: string): Section[] {
  const result: Section[] = [];
  const path: { level: number; folders: string[] }[] = [];
  let current: Section = { folders: [""], text: "" };
  result.push(current);
  for (const line of doc.split("\n")) {
    const heading = /^(#+) (.*)/.exec(line);
    if (heading) {
      const level = heading[1].length;
      while (path.length > 0 && path.at(-1)!.level >= level) path.pop();
      const folders = [...heading[2].matchAll(/`src\/((?:[\w-]+\/)*)`?/g)].map((m) => m[1]);
      path.push({ level, folders });
      current = { folders: ["", ...path.flatMap((p) => p.folders)], text: "" };
      result.push(current);
    }
    current.text += `${line}\n`;
  }
  return result;
}

/**
 * A module is named when the text says `src/<path>` or its whole path under src/
 * (`bulk/queue/job.ts`) anywhere, or, in a section whose heading path names a folder of it,
 * the rest of its path (`pool.ts` or `queue/job.ts` under "`src/bulk/`").
 */
function named(module: string, parts: Section[]): boolean {
  const mentions = (text: string, tail: string) =>
    new RegExp(`(?<![\\w./-])${tail.replaceAll(".", "\\.")}(?![\\w-])`).test(text);
  const tails = (folder: string) =>
    module.split("/").map((_, i, names) => names.slice(i).join("/")).filter((tail) =>
      tail.length <= module.length - folder.length
    );
  return parts.some((part) =>
    mentions(part.text, `src/${module}`) || (module.includes("/") && mentions(part.text, module)) ||
    part.folders.some((folder) =>
      folder !== "" && module.startsWith(folder) && tails(folder).some((tail) => mentions(part.text, tail))
    )
  );
}

Deno.test("docs/architecture.md names every module under src/", async () => {
  const parts = sections(await Deno.readTextFile(new URL("docs/architecture.md", root)));
  const all = await modules();
  expect(all.length).toBeGreaterThan(100);
  expect(all.filter((module) => !named(module, parts))).toEqual([]);
});

Deno.test("docs/architecture.md relies on nothing outside the repository", async () => {
  const doc = await Deno.readTextFile(new URL("docs/architecture.md", root));
  expect(doc.match(/design brief|the brief|\/work\/|STACK\.md|DESIGN\.md/gi)).toBeNull();
  // Every repository path it cites exists.
  const cited = [...doc.matchAll(/`((?:src|tests|bench|docs|migrations|monitoring)\/[\w./-]+\.\w+)`/g)].map((m) =>
    m[1]
  );
  const missing = [];
  for (const path of new Set(cited.filter((path) => !path.includes("NNNN")))) { // NNNN: a file-name pattern
    try {
      await Deno.stat(new URL(path, root));
    } catch {
      missing.push(path);
    }
  }
  expect(missing).toEqual([]);
});
