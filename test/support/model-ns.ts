// Run a command against a mounted model (src/tools/mount.ts) as if it were the
// machine's own /sys/devices/system/memory: in a private mount namespace
// (`unshare -m --propagation private`), the model's tree bind-mounted over the
// real one. Safety first, in the namespace and before the command runs:
//   1. the bind mount must show the model's marker file (only the model's tree
//      has it, with this mount's text), and be a FUSE file system;
//   2. the rest of /sys is remounted read-only (that mount only), so a write that
//      misses the model fails with EROFS instead of touching this machine;
//   3. debugfs is unmounted and modprobe is /bin/true in the namespace (the
//      kselftest loads an error-injection module and writes to debugfs).
// Any failed check exits 99 before the command starts.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { MountedModel } from "../../src/tools/mount.js";
import { MARKER } from "../../src/tools/model-fs.js";

export const SAFETY_FAILED = 99;

const GUARD = `
set -eu
M=$1; EXPECT=$2; shift 2
mount --bind "$M/sys/devices/system/memory" /sys/devices/system/memory
if ! cmp -s "$EXPECT" ${MARKER}; then echo "SAFETY: the bind mount does not show the model; nothing run" >&2; exit ${SAFETY_FAILED}; fi
case "$(stat -f -c %T /sys/devices/system/memory)" in fuse*) ;; *) echo "SAFETY: not a FUSE mount" >&2; exit ${SAFETY_FAILED};; esac
mount -o remount,bind,ro /sys || { echo "SAFETY: cannot make /sys read-only" >&2; exit ${SAFETY_FAILED}; }
if echo x > /sys/kernel/uevent_helper 2>/dev/null; then echo "SAFETY: /sys is writable" >&2; exit ${SAFETY_FAILED}; fi
for d in $(awk '$3 == "debugfs" { print $2 }' /proc/mounts); do umount -l "$d"; done
for p in /sbin/modprobe /usr/sbin/modprobe /bin/modprobe /usr/bin/modprobe; do
  if [ -e "$p" ] && [ ! -L "$p" ]; then mount --bind /bin/true "$p"; fi
done
set +e
exec "$@"
`;

/** Why the namespace cannot be made here, or undefined. */
export function namespaceUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "not root (the bind mount needs a mount namespace as root)";
  const r = spawnSync("unshare", ["-m", "--propagation", "private", "true"], { stdio: "pipe" });
  if (r.status !== 0) return `unshare -m failed: ${String(r.stderr ?? r.error).trim()}`;
  return undefined;
}

export interface NsResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `argv` in the guarded namespace over `m`. Asynchronous: the FUSE server runs on this event loop. */
export function runOverModel(m: MountedModel, argv: string[], timeoutMs = 600_000): Promise<NsResult> {
  const expect = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "memhp-marker-")), "marker");
  fs.writeFileSync(expect, m.marker);
  return new Promise((resolve, reject) => {
    const p = spawn(
      "unshare",
      ["-m", "--propagation", "private", "sh", "-c", GUARD, "guard", m.dir, expect, ...argv],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LC_ALL: "C" } },
    );
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Every memory block's state on this machine (read only): proof the test left it alone. */
export function hostBlockStates(): string {
  const dir = "/sys/devices/system/memory";
  if (!fs.existsSync(dir)) return "";
  return fs
    .readdirSync(dir)
    .filter((n) => /^memory\d+$/.test(n))
    .sort()
    .map((n) => `${n} ${fs.readFileSync(path.join(dir, n, "state"), "utf8").trim()}`)
    .join("\n");
}
