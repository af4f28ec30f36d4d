// lib/fault-inject.c, the model's way: make chosen allocations fail at a chosen
// point, so every failure path can be driven. A site is named ("pgtable",
// "vmemmap", "memory_block", "resource", ...); a rule fails its Nth call from now
// (and optionally the following ones). Nothing fails unless a rule says so.

export interface FaultRule {
  site: string;
  /** Fail the call number `nth` (1-based) counted from when the rule was added. */
  nth: number;
  /** How many consecutive calls fail from there (default 1). */
  times: number;
}

export class FaultInjector {
  private readonly rules: { rule: FaultRule; seen: number; failed: number }[] = [];
  /** How many failures were injected, by site. */
  readonly injected = new Map<string, number>();

  add(site: string, nth = 1, times = 1): void {
    this.rules.push({ rule: { site, nth, times }, seen: 0, failed: 0 });
  }

  clear(): void {
    this.rules.length = 0;
  }

  /** should_fail(): called at each allocation site; true means "fail this one". */
  shouldFail(site: string): boolean {
    let fail = false;
    for (const r of this.rules) {
      if (r.rule.site !== site) continue;
      r.seen++;
      if (r.seen >= r.rule.nth && r.failed < r.rule.times) {
        r.failed++;
        fail = true;
      }
    }
    if (fail) this.injected.set(site, (this.injected.get(site) ?? 0) + 1);
    return fail;
  }
}
