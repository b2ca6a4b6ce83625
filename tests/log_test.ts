/** The logger's JSON lines, read from a real process's stdout. */
import { expect } from "expect";

Deno.test("LOG_FORMAT=json: a field named like a fixed key (time, level, scope, message) cannot replace it", async () => {
  const script = `
    import { configureLog, log } from "./src/log.ts";
    configureLog({ logLevel: "info", logFormat: "json" });
    log.info("test", "the real message", { message: "forged", level: "error", time: "then", scope: "x", tenant: "t1" });
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    cwd: new URL("../", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  expect({ code: output.code, stderr }).toEqual({ code: 0, stderr: "" });
  const [line] = new TextDecoder().decode(output.stdout).trim().split("\n");
  const entry = JSON.parse(line);
  expect(entry).toMatchObject({ level: "info", scope: "test", message: "the real message", tenant: "t1" });
  expect(Date.parse(entry.time)).not.toBeNaN();
});
