// The memhp serve page in a real browser: Debian's Chromium driven by
// playwright-core, headless. Load the page, change the machine by clicking, check
// that the memory map and the timeline follow, and take the screenshot the README
// shows (docs/img/serve.png).

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { MemhpServer } from "../src/web/server.js";
import { ShellSession } from "../src/shell/session.js";
import { machineScenarioText } from "../src/shell/machine.js";
import { memhp, ROOT } from "./support/memhp-cli.js";
import { WEB, browserSkip, memoryMap, openPage, type BrowserPage } from "./support/browser.js";

export const SCREENSHOT = path.join(ROOT, "docs", "img", "serve.png");

describe("memhp serve in Chromium", { skip: browserSkip }, () => {
  let server: MemhpServer;
  let browser: BrowserPage;
  let page: Page;
  let pageErrors: string[] = [];
  let demo: { strategies: { title: string }[] };

  before(async () => {
    // A small run of the strategy comparison, for the second view.
    const d = memhp(["demo", "--json", "--range", "256M", "--steps", "1,1,1", "--intensity", "16"]);
    assert.equal(d.status, 0, d.stderr);
    demo = JSON.parse(d.stdout) as typeof demo;
    server = new MemhpServer({
      newSession: (o = {}) =>
        new ShellSession(machineScenarioText({ vmem: ["vm0:1G"], kernel: o.kernel }), "<browser test>"),
      webRoot: WEB,
      demo,
    });
    await server.listen(0);
    browser = await openPage();
    page = browser.page;
    pageErrors = browser.errors;
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const { block, waitBlock } = memoryMap(() => page);

  it("draws the boot machine", async () => {
    await page.goto(server.url);
    await waitBlock(0, '[data-state="online"]');
    // 1 GiB of boot RAM: memory0-7, online; the first 16 MiB are ZONE_DMA.
    assert.equal(await page.locator("[data-block]").count(), 8);
    assert.equal(await block(0).getAttribute("data-zones"), "DMA DMA32");
    assert.equal(await block(7).getAttribute("data-zones"), "DMA32");
    assert.match(await page.locator('[data-testid="timeline"]').innerText(), /No operation yet/);
  });

  it("plugs memory, onlines a block by clicking, and the strip and the timeline follow", async () => {
    await page.click('[data-action="vmem-resize-vm0-512M"]');
    // virtio-mem plugs 512 MiB at 4 GiB: memory32-35, offline (auto_online_blocks is offline).
    await waitBlock(35, '[data-state="offline"]');
    await page.click('[data-action="dimm-add"]');
    // The DIMM goes after the 1 GiB virtio-mem region: 5 GiB, memory40-47.
    await waitBlock(40, '[data-state="offline"]');
    assert.equal(await page.locator("[data-block]").count(), 8 + 4 + 8);

    await block(40).click();
    await page.click('[data-op="online_movable"]');
    await waitBlock(40, '[data-state="online"][data-zones="Movable"]');

    await block(41).click();
    await page.click('[data-op="online_kernel"]');
    await waitBlock(41, '[data-state="online"][data-zones="Normal"]');

    // Kernel allocations into the new ZONE_NORMAL block make it unmovable: offline fails.
    await page.fill('[data-testid="console"] input', "workload 300 kernel=100 user=0 reclaimable=0 pinned=0");
    await page.press('[data-testid="console"] input', "Enter");
    await page.waitForSelector('[data-seq="5"]');
    await page.click('[data-op="offline"]');
    await page.waitForSelector('[data-seq="6"]');
    assert.match(
      await page.locator('[data-testid="console-out"]').innerText(),
      /sh: write error: Device or resource busy/,
    );
    assert.equal(await block(41).getAttribute("data-state"), "online");

    const rows = await page.locator("[data-seq]").allInnerTexts();
    assert.equal(rows.length, 6);
    // Newest first.
    assert.match(rows[0], /echo offline > \/sys\/devices\/system\/memory\/memory41\/state\s+EBUSY/);
    assert.match(rows[3], /echo online_movable > \/sys\/devices\/system\/memory\/memory40\/state\s+ok/);
    assert.match(rows[3], /struct pages init 32,768/, "onlining 128 MiB initialises 32768 struct pages");
    assert.match(rows[4], /dimm-add d0 size=1G\s+\+ 8 blocks\s+ok/);
    assert.deepEqual(pageErrors, []);
  });

  it("takes the screenshot the README shows", async () => {
    await block(41).click();
    await page.waitForSelector('[data-testid="block-panel"]');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    const png = readFileSync(SCREENSHOT);
    assert.equal(png.subarray(1, 4).toString(), "PNG");
    assert.ok(png.readUInt32BE(16) >= 1440, "width");
  });

  it("switches the Linux release: the machine boots again on it, and its files are that release's", async () => {
    const release = page.locator('[data-testid="release"]');
    assert.equal(await release.innerText(), "Linux 6.1 memory hotplug model");
    await page.selectOption('[data-action="kernel"]', "7.2");
    await release.filter({ hasText: /^Linux 7\.2 memory hotplug model$/ }).waitFor();
    assert.match(await page.locator('[data-testid="live-machine"]').innerText(), /kernel=7\.2/);
    assert.equal(
      await page.locator("[data-block]").count(),
      8,
      "booted again: the hot-added blocks are gone",
    );
    await page.fill('[data-testid="console"] input', "cat /proc/zoneinfo");
    await page.press('[data-testid="console"] input', "Enter");
    // 7.2 prints the per-cpu lists' high_min (6.1 does not)
    await page.waitForSelector('[data-testid="console"] pre:has-text("high_min")');
    await page.selectOption('[data-action="kernel"]', "6.1");
    await release.filter({ hasText: /^Linux 6\.1 memory hotplug model$/ }).waitFor();
    assert.deepEqual(pageErrors, []);
  });

  it("compares the strategies of memhp demo --json side by side", async () => {
    await page.click('nav a[href="#strategies"]');
    await page.waitForSelector("table.compare");
    const heads = await page.locator("table.compare thead th").allInnerTexts();
    assert.deepEqual(
      heads.slice(1),
      demo.strategies.map((x) => x.title),
    );
    assert.ok(
      (await page.locator(".strat-chart canvas").count()) >= 2,
      "charts of the work of each direction",
    );
    assert.match(await page.locator("table.compare").first().innerText(), /^correct\t/m);
    assert.deepEqual(pageErrors, []);
  });
});
