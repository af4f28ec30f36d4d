// The real kernel's side of `memhp export`: a scenario run on the oracle guest
// (src/oracle, through its public OracleSession API), then the guest's export
// trees read with one shell script sent over the protocol channel (`exec`) and
// written by the same writer as the model's (./sysroot.ts).

import type { Scenario } from "../scenario/ast.js";
import type { Trace, TraceRecord } from "../scenario/trace.js";
import { OracleError, OracleSession, retryStalls, type OracleOptions } from "../oracle/run.js";
import { EXPORT_FILES, EXPORT_TREES, decodeDump, writeSysroot, type DumpEntry } from "./sysroot.js";

/**
 * A busybox sh script printing the tree dump format of ./sysroot.ts for the
 * export trees and files. `find` does not follow symlinks; a file that `cat`
 * cannot read (write-only attributes, EIO) is an `e` entry.
 */
export function guestDumpScript(): string {
  return `
emit() {
  p=$1
  if [ -L "$p" ]; then echo "l $p $(readlink "$p")"
  elif [ -d "$p" ]; then echo "d $p $(stat -c %a "$p")"
  elif cat "$p" >/tmp/dump.f 2>/dev/null; then echo "f $p $(stat -c %a "$p") $(base64 -w0 < /tmp/dump.f)"
  else echo "e $p $(stat -c %a "$p")"
  fi
}
for t in ${EXPORT_TREES.join(" ")}; do
  find "$t" | sort | while IFS= read -r p; do emit "$p"; done
done
for f in ${EXPORT_FILES.join(" ")}; do [ -e "$f" ] && emit "$f"; done
rm -f /tmp/dump.f
`;
}

/** What dumpGuest needs of an oracle session. */
export type GuestExec = Pick<OracleSession, "exec">;

/** The guest's export trees as a tree dump. */
export async function dumpGuest(session: GuestExec): Promise<DumpEntry[]> {
  const r = await session.exec(guestDumpScript());
  if (r.rc !== 0) throw new OracleError(`export: the guest's dump script failed (rc ${r.rc}): ${r.err}`);
  return decodeDump(r.out);
}

export interface OracleExportOptions extends OracleOptions {
  /** leave out `ptdump` statements (they read through gdb and change nothing) */
  skipPtdump?: boolean;
}

/**
 * Run `scenario` on the real kernel like runOracle(), then export the guest's
 * trees under `dir`. Returns the trace and the dump.
 */
export function runOracleExport(
  scenario: Scenario,
  dir: string,
  opts: OracleExportOptions = {},
): Promise<{ trace: Trace; entries: DumpEntry[] }> {
  return retryStalls(() => exportOnce(scenario, dir, opts), opts);
}

async function exportOnce(
  scenario: Scenario,
  dir: string,
  opts: OracleExportOptions,
): Promise<{ trace: Trace; entries: DumpEntry[] }> {
  const session = await OracleSession.start(scenario, { requestTimeoutMs: 300_000, ...opts });
  try {
    const records: TraceRecord[] = [];
    for (const st of scenario.body) {
      if (opts.skipPtdump && st.op === "ptdump") continue;
      const rec = await session.run(st);
      records.push(rec);
      opts.onRecord?.(rec);
    }
    const entries = await dumpGuest(session);
    writeSysroot(dir, entries);
    opts.log?.(`oracle: exported ${entries.length} entries to ${dir}`);
    return { trace: { header: session.header, records }, entries };
  } catch (e) {
    if (e instanceof OracleError) throw e;
    throw new OracleError((e as Error).message, session.console);
  } finally {
    await session.close();
  }
}
