/**
 * Headless Chromium for the console's tests: Debian's chromium driven by npm playwright-core (shared/STACK.md).
 * ONE browser per test file (`browserSuite`): each flow is a step with a fresh browser context (its own
 * sessionStorage), so a file pays Chromium's start once on this shared, slow machine.
 *
 * Without /usr/bin/chromium (or CHROMIUM_PATH) the suite is reported as ignored, with one line saying how to
 * install it; CI installs chromium (.ci/clients-check), so there it runs. Every step saves a screenshot to
 * .test-data/screenshots/ (not committed; `docs/images/` holds the README's copies), and a failing one saves
 * `failed-<step>.png`. Any page error or console error fails the step.
 */
import { expect } from "expect";
import type { Browser, Page } from "playwright-core";
import type { TestServer, TestUser } from "./server.ts";

const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
export const SCREENSHOTS = ".test-data/screenshots";
/** What Chromium itself logs when a connection fails (see Flow.networkDown). */
const NETWORK_ERRORS = /^(Failed to load resource: net::|WebSocket connection to '[^']+' failed)/;

// playwright-core's bundled `is-wsl` probes /proc/sys/fs/binfmt_misc/WSLInterop as it loads, and
// Deno lets a program read /proc/sys only with --allow-all. With __IS_WSL_TEST__ set the probe
// waits until `open()` (opening a URL in a desktop browser), which launching Chromium never calls.
Deno.env.set("__IS_WSL_TEST__", "1");
const { chromium } = await import("playwright-core");

export const chromiumInstalled = await Deno.stat(CHROMIUM).then((s) => s.isFile, () => false);
if (!chromiumInstalled) {
  console.log(
    `browser tests ignored: no Chromium at ${CHROMIUM}; install it (apt-get install -y chromium) or set CHROMIUM_PATH`,
  );
}

export interface Viewport {
  width: number;
  height: number;
}
export const DESKTOP: Viewport = { width: 1280, height: 800 };
export const PHONE: Viewport = { width: 390, height: 844 };

export interface Flow {
  /** A new page in a new context (own storage), at `viewport` (default DESKTOP). */
  page(viewport?: Viewport): Promise<Page>;
  /**
   * While on, the browser's own lines about failed connections ("Failed to load resource: net::...", "WebSocket
   * connection to ... failed") are expected (a test that cuts the network on purpose); every other console error
   * still fails the step.
   */
  networkDown(on: boolean): void;
}

export interface Suite {
  /** One flow: a t.step with fresh browser contexts; a failed step skips the ones after it. */
  step(name: string, run: (flow: Flow) => Promise<void>): Promise<void>;
}

/**
 * One Deno.test for a file: Chromium starts once, `fn` runs the flows as `suite.step`s (and owns its server:
 * start it inside with `await using`); the browser is closed at the end whatever happens.
 */
export function browserSuite(name: string, fn: (suite: Suite) => Promise<void>): void {
  Deno.test({
    name,
    ignore: !chromiumInstalled,
    // playwright keeps its pipe to the browser and timers around between calls.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      await using browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
      let failed = false;
      await fn({
        async step(stepName, run) {
          // Later flows of a file build on the state the earlier ones left.
          if (failed) throw new Error(`not run: an earlier step failed`);
          failed = !(await t.step(stepName, () => runStep(browser, stepName, run)));
          if (failed) throw new Error(`step failed: ${stepName}`);
        },
      });
    },
  });
}

async function runStep(browser: Browser, name: string, run: (flow: Flow) => Promise<void>): Promise<void> {
  // Closed when the step ends, after a failure's screenshots of their pages.
  await using contexts = new AsyncDisposableStack();
  const pages: Page[] = [];
  const problems: string[] = [];
  let networkDown = false;
  const flow: Flow = {
    networkDown(on) {
      networkDown = on;
    },
    async page(viewport = DESKTOP) {
      const context = contexts.use(await browser.newContext({ viewport, acceptDownloads: true }));
      const page = await context.newPage();
      page.setDefaultTimeout(20_000);
      page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
      page.on("console", (message) => {
        if (message.type() !== "error") return;
        if (networkDown && NETWORK_ERRORS.test(message.text())) return;
        problems.push(`console error: ${message.text()}`);
      });
      pages.push(page);
      return page;
    },
  };
  try {
    await run(flow);
    expect(problems).toEqual([]);
  } catch (error) {
    for (const [i, page] of pages.entries()) {
      await screenshot(page, `failed-${slug(name)}${i ? `-${i}` : ""}`).catch(() => {});
    }
    if (problems.length > 0) console.error(`the page reported:\n${problems.join("\n")}`);
    throw error;
  }
}

const slug = (name: string) => name.replace(/\W+/g, "-").slice(0, 60);

/** Saves the page (the whole page, or with `viewportOnly` what a user sees, as the README's images). */
export async function screenshot(page: Page, name: string, options: { viewportOnly?: boolean } = {}): Promise<string> {
  await Deno.mkdir(SCREENSHOTS, { recursive: true });
  const path = `${SCREENSHOTS}/${name}.png`;
  await page.screenshot({ path, fullPage: !options.viewportOnly });
  return path;
}

/** Opens the console at `base` (default the server) and signs in with the user's token. */
export async function openConsole(page: Page, server: TestServer, user: TestUser, base = server.url): Promise<void> {
  await page.goto(`${base}/console`);
  await page.fill("#token", user.token);
  await page.click("#token-form button[type=submit]");
  await page.waitForSelector("#live[data-state=live]");
}

/**
 * Starts summing the page's layout shifts (the Layout Instability API: what Chrome's CLS is made of);
 * `layoutShift(page)` reads the sum. Shifts right after input are excluded by the API itself.
 */
export async function watchLayoutShift(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = globalThis as unknown as { __shift: number; __shifts: string[] };
    w.__shift = 0;
    w.__shifts = [];
    new PerformanceObserver((list) => {
      for (
        const entry of list.getEntries() as (PerformanceEntry & {
          value: number;
          hadRecentInput: boolean;
          sources?: { node?: Node | null }[];
        })[]
      ) {
        if (entry.hadRecentInput) continue;
        w.__shift += entry.value;
        // What moved, as tag#id.class, so a failure names it.
        w.__shifts.push(
          (entry.sources ?? []).map((s) => {
            const node = s.node as Element | undefined;
            return node
              ? `${node.nodeName.toLowerCase()}${node.id ? `#${node.id}` : ""}${
                node.className ? `.${node.className}` : ""
              }`
              : "?";
          }).join(","),
        );
      }
    }).observe({ type: "layout-shift", buffered: false });
  });
}

export function layoutShift(page: Page): Promise<{ value: number; sources: string[] }> {
  return page.evaluate(() => {
    const w = globalThis as unknown as { __shift: number; __shifts: string[] };
    return { value: w.__shift, sources: w.__shifts };
  });
}

/** The page is usable at its width: nothing makes the document scroll sideways. */
export async function expectNoSideways(page: Page): Promise<void> {
  const widths = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  expect(widths.scroll).toBeLessThanOrEqual(widths.client);
}

/** Every visible control has an accessible name (a <label for>, aria-label, or text). */
export async function expectLabelled(page: Page): Promise<void> {
  const unnamed = await page.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>("input, select, textarea, button, a[href]")]
      .filter((node) => node.offsetParent !== null || node.getClientRects().length > 0)
      .filter((node) => {
        const labels = (node as HTMLInputElement).labels;
        return !(labels && labels.length > 0) && !node.getAttribute("aria-label") && !node.textContent?.trim();
      })
      .map((node) => node.outerHTML.slice(0, 120))
  );
  expect(unnamed).toEqual([]);
}

/** The focused element shows a focus ring (keyboard focus: :focus-visible). */
export async function expectFocusRing(page: Page): Promise<void> {
  const outline = await page.evaluate(() => {
    const focused = document.activeElement as HTMLElement | null;
    return focused ? getComputedStyle(focused).outlineStyle : "no focus";
  });
  expect(outline).toBe("solid");
}
