// The memhp serve page for a new user (issue 19, item 4), in Debian's Chromium
// via playwright-core: a block's panel offers only what can work and says why
// the rest cannot; a refusal's reason is on the timeline; the Strategies tab
// works without --demo (computed for the live machine's arch, no 404), leads
// with the answer, then the counters in words with units, and charts that show
// negative values; nothing is clipped at 1024 px; no console error on either
// tab. Screenshots at 1440 and 1024 px go to $MEMHP_SCREENSHOTS (default
// <tmpdir>/memhp-screenshots).

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Page } from "playwright-core";
import { MemhpServer } from "../src/web/server.js";
import { ShellSession } from "../src/shell/session.js";
import { machineScenarioText } from "../src/shell/machine.js";
import { DEFAULT_DEMO, runDemo } from "../src/cli/demo.js";
import type { Arch } from "../src/scenario/ast.js";
import { WEB, browserSkip, memoryMap, openPage, type BrowserPage } from "./support/browser.js";

export const SHOTS = process.env.MEMHP_SCREENSHOTS ?? path.join(tmpdir(), "memhp-screenshots");

describe("memhp serve for a new user, in Chromium", { skip: browserSkip }, () => {
  let server: MemhpServer;
  let browser: BrowserPage;
  let page: Page;
  let consoleErrors: string[] = [];
  const demoArchs: string[] = [];

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = new MemhpServer({
      // x86_64 with a virtio-mem device (driver-managed memory) and DIMM slots
      newSession: () => new ShellSession(machineScenarioText({ vmem: ["vm0:1G"] }), "<browser test>"),
      webRoot: WEB,
      // No --demo: the server computes a small comparison for the live arch.
      makeDemo: (arch) => {
        demoArchs.push(arch);
        return runDemo({
          ...DEFAULT_DEMO,
          arch: arch as Arch,
          rangeBytes: 2 ** 30,
          steps: [1, 1, 1],
          intensity: 16,
        });
      },
    });
    await server.listen(0);
    browser = await openPage();
    page = browser.page;
    consoleErrors = browser.errors;
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const { block, waitBlock } = memoryMap(() => page);

  /** Elements whose content is wider than their box and cut off (overflow hidden / clip). */
  const clipped = (selector: string): Promise<string[]> =>
    page.evaluate(`(() => {
      const out = [];
      for (const el of document.querySelectorAll(${JSON.stringify(selector)})) {
        const r = el.getBoundingClientRect();
        if (r.width === 0) continue;
        // an ellipsis inside an element whose title holds the whole text is not clipping
        const titled = el.closest("[title]");
        const ellipsis = getComputedStyle(el).textOverflow === "ellipsis" && titled && titled.title.includes(el.innerText.replace(/…$/, ""));
        if (!ellipsis && el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== "visible")
          out.push(\`\${el.className || el.tagName}: \${el.scrollWidth} > \${el.clientWidth} "\${el.innerText.slice(0, 40)}"\`);
        if (r.right > document.documentElement.clientWidth + 1)
          out.push(\`\${el.className || el.tagName}: right edge \${Math.round(r.right)}\`);
      }
      return out;
    })()`);

  it("loads the memory map with no console error, the live machine in the header", async () => {
    await page.goto(server.url);
    await waitBlock(0, '[data-state="online"]');
    assert.match(await page.locator('[data-testid="live-machine"]').innerText(), /^x86_64 mem=1G/);
    assert.deepEqual(consoleErrors, []);
  });

  it("an ACPI DIMM block offers no depopulate/populate, and says why", async () => {
    await page.click('[data-action="dimm-add"]');
    await waitBlock(40, '[data-state="offline"]');
    await block(40).click();
    await page.waitForSelector('[data-testid="block-panel"]');
    assert.equal(await page.locator('[data-op^="depopulate"], [data-op^="populate"]').count(), 0);
    const why = await page.locator('[data-unavailable="depopulate_range_driver_managed"]').innerText();
    assert.match(why, /only for driver-managed memory.*plain "System RAM" \(an ACPI DIMM\).*EINVAL/);
    // boot memory: the same
    await block(3).click();
    assert.match(
      await page.locator('[data-unavailable="depopulate_range_driver_managed"]').innerText(),
      /boot memory/,
    );
  });

  it("a virtio-mem block offers no depopulate: RFC v2 leaves it to its owner, and says so", async () => {
    await page.click('[data-action="vmem-resize-vm0-256M"]');
    await waitBlock(33, '[data-state="offline"]');
    await block(33).click();
    await page.waitForSelector('[data-testid="block-panel"]');
    assert.equal(await page.locator('[data-op^="depopulate"]').count(), 0);
    assert.match(
      await page.locator('[data-unavailable="depopulate_range_driver_managed"]').innerText(),
      /another driver's memory group \(virtio-mem\).*only the owner.*EINVAL/,
    );
  });

  it("a refusal's reason is on the timeline, not 'EINVAL none'", async () => {
    await page.fill(
      '[data-testid="console"] input',
      "echo offline > /sys/devices/system/memory/memory0/state",
    );
    await page.press('[data-testid="console"] input', "Enter");
    await page.waitForSelector("[data-reason]");
    const row = await page.locator("[data-seq]").first().innerText();
    assert.match(row, /EINVAL\s+memory0 spans more than one zone/);
    assert.doesNotMatch(row, /\bnone\b/);
    assert.match(await page.locator('[data-testid="console-out"]').innerText(), /reason: memory0 spans/);
  });

  it("at 1440 and 1024 px nothing on the map is clipped; screenshots", async () => {
    await block(40).click();
    for (const width of [1440, 1024]) {
      await page.setViewportSize({ width, height: 900 });
      await page.waitForTimeout(200);
      await page.screenshot({ path: path.join(SHOTS, `map-${width}.png`), fullPage: true });
      // The legend stays inside its panel; the leaf labels of the linear map and the vmemmap are whole.
      const cut = await page.evaluate<string[]>(`(() => {
        const out = [];
        const box = document.querySelector(".map-panel").getBoundingClientRect();
        for (const el of document.querySelectorAll(".legend-item"))
          if (el.getBoundingClientRect().right > box.right - 1) out.push("legend: " + el.innerText);
        for (const el of document.querySelectorAll(".lane-pt .seg > span"))
          if (el.scrollWidth > el.parentElement.clientWidth + 1) out.push("leaf label: " + el.innerText);
        return out;
      })()`);
      assert.deepEqual(cut, [], `${width} px`);
      assert.deepEqual(
        await clipped(".legend, .legend-item, .map-caption, .row, .row *, .block-panel, .toolbar, header"),
        [],
        `${width} px`,
      );
      assert.equal(
        readFileSync(path.join(SHOTS, `map-${width}.png`))
          .subarray(1, 4)
          .toString(),
        "PNG",
      );
    }
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  it("the Strategies tab without --demo: computed for the live arch, the answer first, no console error", async () => {
    await page.click('nav a[href="#strategies"]');
    await page.waitForSelector('[data-testid="verdict"]', { timeout: 60_000 });
    assert.deepEqual(demoArchs, ["x86_64"], "the comparison is the live machine's arch");
    assert.equal(
      await page.locator('[data-testid="live-machine"]').count(),
      0,
      "no live machine above the comparison",
    );
    // The verdict comes before the counters and the charts.
    const order = await page.evaluate<{ v: number; c: number; ch: number }>(`(() => {
      const top = (sel) => document.querySelector(sel).getBoundingClientRect().top;
      return { v: top('[data-testid="verdict"]'), c: top("table.compare"), ch: top(".strat-chart") };
    })()`);
    assert.ok(order.v < order.ch && order.v < order.c, JSON.stringify(order));
    const verdict = await page.locator('[data-testid="verdict"]').innerText();
    assert.match(
      verdict,
      /offline only[^\n]*\d+(\.\d+)? (ms|µs|s)\t\d+(\.\d+)? (ms|µs|s)\t1G stays mapped while powered off/,
    );
    assert.match(verdict, /RFC depopulate[^\n]*\tnothing\t[^\n]*memmap/);
    assert.match(verdict, /remove \+ add[^\n]*\tnothing\n/);
    // Counters in words with units, not camelCase keys.
    const table = await page.locator("table.compare").first().innerText();
    assert.doesNotMatch(table, /^[^\t]*\b[a-z]+[A-Z]\w*[^\t]*\t/m, "no camelCase row label");
    assert.match(table, /held while powered down › MemTotal change\t-[\d,]+ kB/);
    assert.match(table, /held while powered down › memmap\t[\d,]+ pages/);
    assert.match(table, /predicted time › power-down\t[\d.]+ (ms|µs|s)\t/);
    assert.deepEqual(consoleErrors, []);
  });

  it("charts show negative values (a linear scale, said under the chart)", async () => {
    const notes = await page.locator(".strat-chart .small").allInnerTexts();
    assert.ok(notes.length >= 2);
    const held = page.locator(".strat-chart", { hasText: "held while powered down" });
    if ((await held.count()) > 0)
      assert.match(await held.first().innerText(), /negative values below the axis/);
    else
      assert.ok(
        notes.some((n) => /negative values below the axis/.test(n)),
        notes.join(" | "),
      );
  });

  it("Strategies at 1440 and 1024 px: nothing clipped; screenshots", async () => {
    for (const width of [1440, 1024]) {
      await page.setViewportSize({ width, height: 900 });
      await page.waitForTimeout(300);
      await page.screenshot({ path: path.join(SHOTS, `strategies-${width}.png`), fullPage: true });
      assert.deepEqual(await clipped(".verdict, .verdict-table, header"), [], `${width} px`);
    }
    assert.deepEqual(consoleErrors, []);
  });
});
