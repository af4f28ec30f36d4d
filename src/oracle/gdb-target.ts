// Register numbers from a gdbstub's target description (GDB manual, "Target
// Descriptions"): target.xml includes feature files (<xi:include href=.../>),
// whose <reg> elements are numbered in document order, each one after the
// previous unless it carries regnum="N". QEMU numbers its registers the same
// way (core registers first, then each coprocessor feature from its base), so
// the name -> number map read here is what `p NN` expects. The x86_64 core
// feature has cr3 (number 29 in QEMU 7.2); arm64's system registers, TTBR1_EL1
// among them, are in QEMU's generated "system-registers.xml".

export interface GdbRegister {
  name: string;
  regnum: number;
  bitsize: number;
  feature: string;
}

const ATTR = /([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*"([^"]*)"/g;

function attrs(tag: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const a of tag.matchAll(ATTR)) m.set(a[1], a[2]);
  return m;
}

/**
 * All registers of a target description, following includes through `fetch`
 * (which returns an annex's text, e.g. via qXfer:features:read).
 */
export async function targetRegisters(
  fetch: (annex: string) => Promise<string>,
  annex = "target.xml",
): Promise<GdbRegister[]> {
  const regs: GdbRegister[] = [];
  let next = 0;
  const visit = async (name: string, feature: string, depth: number): Promise<void> => {
    if (depth > 8) throw new Error(`target description: includes nested too deep at ${name}`);
    const xml = (await fetch(name)).replace(/<!--[\s\S]*?-->/g, "");
    for (const m of xml.matchAll(/<(xi:include|reg|feature)\b([^>]*)>/g)) {
      const a = attrs(m[2]);
      if (m[1] === "feature") feature = a.get("name") ?? feature;
      else if (m[1] === "xi:include") {
        const href = a.get("href");
        if (href) await visit(href, feature, depth + 1);
      } else {
        const n = a.has("regnum") ? Number(a.get("regnum")) : next;
        regs.push({
          name: a.get("name") ?? "",
          regnum: n,
          bitsize: Number(a.get("bitsize") ?? "0"),
          feature,
        });
        next = n + 1;
      }
    }
  };
  await visit(annex, "", 0);
  return regs;
}

/** The register called `name` (case-insensitive), or undefined. */
export function findRegister(regs: readonly GdbRegister[], name: string): GdbRegister | undefined {
  const want = name.toLowerCase();
  return regs.find((r) => r.name.toLowerCase() === want);
}
