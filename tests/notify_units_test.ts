/** The pure parts of notifications: address classification and the retry schedule. */
import { expect } from "expect";
import {
  checkWebhookUrl,
  isPrivateAddress,
  resolveTarget,
  safeAddress,
  UnsafeUrlError,
} from "../src/notify/address-guard.ts";
import type { OperationStatus } from "../src/bulk/operation.ts";
import { endEventsOf, startEventOf } from "../src/notify/events.ts";
import { MAX_RETRY_DELAY_MS, retryDelayMs } from "../src/notify/delivery-queue.ts";

Deno.test("address guard: private, loopback, link-local, reserved refused; public allowed", () => {
  const refused = [
    "127.0.0.1",
    "127.255.0.9",
    "10.0.0.1",
    "172.16.5.4",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "[::1]",
    "::7f00:1", // IPv4-compatible 127.0.0.1
    "::10.0.0.1",
    "64:ff9b::7f00:1", // NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
    "64:ff9b:1::8.8.8.8", // local-use NAT64
    "2002:7f00:1::", // 6to4 relay 127.0.0.1
    "2002:c0a8:101::1", // 6to4 relay 192.168.1.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe", // Teredo client 127.0.0.1 (inverted)
    "fec0::1", // site-local
    "feff::1",
    "not-an-address",
  ];
  const allowed = [
    "8.8.8.8",
    "1.1.1.1",
    "172.32.0.1",
    "192.169.0.1",
    "100.128.0.1",
    "2606:4700::1111",
    "::ffff:8.8.8.8",
    "::808:808", // IPv4-compatible 8.8.8.8
    "64:ff9b::808:808", // NAT64 of 8.8.8.8
    "2002:808:808::1", // 6to4 relay 8.8.8.8
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7", // Teredo client 8.8.8.8
    "2001:4860:4860::8888",
  ];
  expect(refused.filter((a) => !isPrivateAddress(a))).toEqual([]);
  expect(allowed.filter(isPrivateAddress)).toEqual([]);
});

Deno.test("address guard: hosts the URL parser normalises to loopback are refused without DNS; every DNS answer must be public", async () => {
  for (
    const raw of [
      "http://2130706433/",
      "http://0x7f.0.0.1/",
      "http://0177.0.0.1/",
      "http://127.1/",
      "http://[::7f00:1]/",
    ]
  ) {
    const url = checkWebhookUrl(raw);
    await expect(resolveTarget(url, false)).rejects.toThrow(UnsafeUrlError);
    expect(await resolveTarget(url, true)).toMatch(/^127\.0\.0\.1$|^::7f00:1$/);
  }
  expect(() => safeAddress("mixed.example", ["8.8.8.8", "10.0.0.7", "1.1.1.1"], false)).toThrow(
    "mixed.example resolves to 10.0.0.7, a private, loopback or link-local address (WEBHOOK_ALLOW_PRIVATE_NETWORKS is off).",
  );
  expect(() => safeAddress("mixed.example", ["2606:4700::1111", "64:ff9b::7f00:1"], false)).toThrow(UnsafeUrlError);
  expect(safeAddress("public.example", ["8.8.8.8", "2606:4700::1111"], false)).toBe("8.8.8.8");
  expect(safeAddress("mixed.example", ["8.8.8.8", "10.0.0.7"], true)).toBe("8.8.8.8");
});

Deno.test("retry schedule: doubles from the base, jittered 0.5-1.0, capped at 1 h; about 30 attempts fit in 24 h", () => {
  expect([1, 2, 3, 4].map((n) => retryDelayMs(n, 10_000, 1))).toEqual([10_000, 20_000, 40_000, 80_000]);
  expect(retryDelayMs(3, 10_000, 0)).toBe(20_000);
  expect(retryDelayMs(50, 10_000, 1)).toBe(MAX_RETRY_DELAY_MS);
  let elapsed = 0;
  let attempts = 0;
  while (elapsed <= 24 * 3_600_000) elapsed += retryDelayMs(++attempts, 10_000, 1);
  expect(attempts).toBeGreaterThanOrEqual(25);
  expect(attempts).toBeLessThanOrEqual(40);
});

Deno.test("events: what a start and an end cause (export.ready only for an EXPORT operation whose whole file was written)", () => {
  expect(["SCHEDULED", "RUNNING", "QUEUED"].map(startEventOf)).toEqual([
    "bulk_operation.scheduled",
    "bulk_operation.started",
    null,
  ]);
  const end = (action_type: string, status: string, error_counts: Record<string, number> = {}) =>
    endEventsOf({ action_type, status: status as OperationStatus, error_counts });
  expect(end("SET_STATUS", "COMPLETED")).toEqual(["bulk_operation.finished"]);
  expect(end("ROLLBACK", "FAILED")).toEqual(["bulk_operation.finished"]);
  expect(end("ROLLBACK", "CANCELLED")).toEqual(["bulk_operation.cancelled"]);
  expect(end("EXPORT", "COMPLETED_WITH_ERRORS", { NOT_FOUND: 3 })).toEqual(["bulk_operation.finished", "export.ready"]);
  // Every ticket vanished: an empty file, still complete; a chunk that gave up: its part is missing.
  expect(end("EXPORT", "FAILED", { NOT_FOUND: 5 })).toEqual(["bulk_operation.finished", "export.ready"]);
  expect(end("EXPORT", "COMPLETED_WITH_ERRORS", { INTERNAL: 2000 })).toEqual(["bulk_operation.finished"]);
  expect(end("EXPORT", "CANCELLED")).toEqual(["bulk_operation.cancelled"]);
});
