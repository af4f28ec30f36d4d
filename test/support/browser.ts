// Debian's Chromium, headless through playwright-core, for the tests of the
// memhp serve page (test/web-browser.test.ts, test/web-first-hour.test.ts):
// where the browser and the built page are, why a test skips without them,
// one page in a throwaway profile that collects the page's errors, and the
// memory-map locators both tests use.

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { ROOT } from "./memhp-cli.js";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** The built page (npm run build:web). */
export const WEB = path.join(ROOT, "web-ui", "dist");

/** Why the browser tests skip here, or false when they can run. */
export const browserSkip: string | false = !existsSync(CHROMIUM)
  ? `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`
  : !existsSync(path.join(WEB, "index.html"))
    ? "the page is not built (npm run build:web)"
    : false;

export interface BrowserPage {
  page: Page;
  /** Uncaught page errors and console errors, in order. */
  errors: string[];
  /** Close the browser and remove its profile. */
  close(): Promise<void>;
}

/** Launch Chromium headless in a fresh profile with one 1440x900 page. */
export async function openPage(): Promise<BrowserPage> {
  const profile = mkdtempSync(path.join(tmpdir(), "memhp-chromium-"));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
      ],
      viewport: { width: 1440, height: 900 },
    });
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  const ctx = context;
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  return {
    page,
    errors,
    close: async () => {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The memory map's block `id`, and a wait until it shows `attrs` (a CSS attribute selector). */
export function memoryMap(page: () => Page) {
  return {
    block: (id: number) => page().locator(`[data-block="${id}"]`),
    waitBlock: (id: number, attrs: string) =>
      page().waitForSelector(`[data-block="${id}"]${attrs}`, { timeout: 15_000 }),
  };
}
