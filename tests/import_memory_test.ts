/**
 * previewBulkImport of a staged upload reads the file batch by batch: the API process, its V8
 * old space capped far below what the file's records take as objects, previews a 120,000-row
 * upload to its end. (It read every record into one array first, then judged them: ~110 MB of
 * objects, which ended the process with "JavaScript heap out of memory" under this cap.)
 */
import { expect } from "expect";
import { createDb } from "../src/db/database.ts";
import { spawnApi } from "./helpers/api_process.ts";
import { freshDatabase } from "./helpers/database.ts";
import { gql } from "./helpers/graphql.ts";
import { CREATE_UPLOAD, PREVIEW_IMPORT } from "./helpers/imports.ts";
import { createTenant } from "./helpers/server.ts";
import { within } from "./helpers/wait.ts";

const ROWS = 120_000;
/** MB of V8 old space for the API process: its own live data fits, the file's records as objects do not. */
const OLD_SPACE_MB = 64;

/** The CSV generated block by block, so the test holds no file either. */
function csv(rows: number): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let next = 0;
  return new ReadableStream({
    start: (controller) => controller.enqueue(encoder.encode("title,body,priority,externalId\n")),
    pull(controller) {
      if (next >= rows) return controller.close();
      let text = "";
      for (const end = Math.min(rows, next + 2000); next < end; next++) {
        text += `Customer ${next} cannot open invoice ${
          100000 + next
        },The PDF download stops at 80%.,HIGH,mem-${next}\n`;
      }
      controller.enqueue(encoder.encode(text));
    },
  });
}

Deno.test("previewBulkImport of a large staged upload streams it: the API process previews every row under a small heap", async () => {
  const databaseUrl = await freshDatabase();
  await using db = createDb(databaseUrl, { poolSize: 2, applicationName: "test setup" });
  await using api = await spawnApi(
    { DATABASE_URL: databaseUrl, PORT: "0", WORKERS: "0", SEED_DEMO: "0", BULK_MAX_TARGETS: String(ROWS) },
    [`--max-old-space-size=${OLD_SPACE_MB}`],
  );
  const tenant = await createTenant(db, "Preview memory");
  const created = await gql(`${api.url}/graphql`, tenant.agent.token, CREATE_UPLOAD);
  const upload = created.data.createUpload.upload;
  const put = await fetch(`${api.url}${new URL(upload.url).pathname}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${tenant.agent.token}` },
    body: csv(ROWS),
  });
  expect(put.status).toBe(200);
  await put.body?.cancel();
  const previewed = await within(
    gql(`${api.url}/graphql`, tenant.agent.token, PREVIEW_IMPORT, {
      input: { source: { upload: upload.id }, format: "CSV" },
    }),
    180_000,
    `the preview of ${ROWS} staged rows answers`,
  ).catch((error) => {
    throw new Error(`${error.message}\n${api.lines.slice(-20).join("\n")}`);
  });
  expect(previewed.data?.previewBulkImport.userErrors).toEqual([]);
  const { matchedCount, wouldChange, wouldFail, sample } = previewed.data.previewBulkImport.preview;
  expect({ matchedCount, wouldChange, wouldFail, sample: sample.length }).toEqual({
    matchedCount: ROWS,
    wouldChange: ROWS,
    wouldFail: 0,
    sample: 50,
  });
});
