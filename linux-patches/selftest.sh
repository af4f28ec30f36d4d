#!/usr/bin/env bash
# Boots the patched kernel under QEMU TCG and runs the kselftests
# tools/testing/selftests/memory-hotplug/depopulate-test.sh and then
# unmapped-test.sh (from the series, installed by linux-patches/build.sh; the second
# if the build has it) with the test module test_memhp.ko.
#
# Usage: linux-patches/selftest.sh [x86_64|arm64] [normal|debug] [6.1|6.12|7.2] [-- EXTRA-CMDLINE...]
# (the build of linux-patches/build.sh with the same arguments)
#
# Exits non-zero when a test fails, when the test does not finish, or when the
# console shows a kernel complaint (linux-patches/console-check.sh: WARNING:, BUG:,
# "kernel BUG at", KASAN, "Bad page state", lockdep and RCU reports, Oops,
# "Kernel panic", a call trace, ...).
# Environment: MEMHP_CACHE, MEMHP_KDIR (a directory with vmlinuz,
# modules/test_memhp.ko and selftests/depopulate-test.sh, instead of the
# cache's), MEMHP_BUSYBOX, MEMHP_SELFTEST_LOG (keep the console log there),
# MEMHP_SELFTEST_IDLE (seconds of console silence after which the guest is
# stopped as stuck, default 1800), MEMHP_SELFTEST_TIMEOUT (seconds for the
# whole run, default 5400), MEMHP_SELFTEST_QEMU_CPU (QEMU's -cpu; arm64: e.g.
# max,pauth-impdef=on,midr=0x410fd842, a CPU that 7.2 gives BBML2_NOABORT,
# src/arch/arm64/cpufeature.ts).
set -euo pipefail

arch="${1:-x86_64}"
variant="${2:-normal}"
shift $(($# > 2 ? 2 : $#))
version=6.1
case "${1:-}" in 6.1 | 6.12 | 7.2) version="$1"; shift ;; esac
[ "${1:-}" = -- ] && shift
extra=("$@")
cache="${MEMHP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/memhp}"
suffix=""
[ "$variant" = debug ] && suffix=-debug
[ "$variant" = normal ] || [ "$variant" = debug ] || { echo "selftest.sh: variant normal or debug" >&2; exit 2; }
vsuffix=""
[ "$version" = 6.1 ] || vsuffix="-$version"
kdir="${MEMHP_KDIR:-$cache/linux-patched$vsuffix-$arch$suffix}"
case "$arch" in
  x86_64) busybox="${MEMHP_BUSYBOX:-/bin/busybox}" ;;
  arm64)
    busybox="${MEMHP_BUSYBOX:-}"
    for b in "$cache/linux-arm64/bin/busybox" "$HOME/.cache/memhp/linux-arm64/bin/busybox"; do
      [ -z "$busybox" ] && [ -f "$b" ] && busybox="$b"
    done ;;
  *) echo "selftest.sh: unknown architecture $arch" >&2; exit 2 ;;
esac
for f in vmlinuz modules/test_memhp.ko selftests/depopulate-test.sh; do
  [ -f "$kdir/$f" ] || { echo "selftest.sh: no $kdir/$f (linux-patches/build.sh $arch $variant $version)" >&2; exit 2; }
done
[ -n "$busybox" ] && file -L "$busybox" | grep -q "statically linked" ||
  { echo "selftest.sh: need a static $arch busybox (MEMHP_BUSYBOX; arm64: scripts/oracle-setup.sh arm64)" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp}
cp "$busybox" "$root/bin/busybox"
cp "$kdir/modules/test_memhp.ko" "$kdir/selftests/depopulate-test.sh" "$root/"
[ -f "$kdir/selftests/unmapped-test.sh" ] && cp "$kdir/selftests/unmapped-test.sh" "$root/"
cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
insmod /test_memhp.ko
MEMHP_MODULE=/test_memhp.ko sh /depopulate-test.sh
rc=$?
if [ -f /unmapped-test.sh ]; then
  MEMHP_MODULE=/test_memhp.ko sh /unmapped-test.sh || rc=$((rc | $?))
fi
echo "memhp-selftest: exit=$rc"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

append="nokaslr acpi_no_memhotplug memory_hotplug.memmap_on_memory=1 panic=-1 ${extra[*]}"
mem=(-m 2G,slots=4,maxmem=6G -object memory-backend-ram,id=m0,size=4G -device pc-dimm,id=d0,memdev=m0)
case "$arch" in
  x86_64)
    qemu=(qemu-system-x86_64 -accel tcg -machine pc -cpu "${MEMHP_SELFTEST_QEMU_CPU:-max,la57=off}" -smp 2 "${mem[@]}"
      -kernel "$kdir/vmlinuz" -initrd "$work/initrd.gz" -append "console=ttyS0 $append"
      -nographic -no-reboot -net none) ;;
  arm64)
    qemu=(qemu-system-aarch64 -machine virt -accel tcg -cpu "${MEMHP_SELFTEST_QEMU_CPU:-max,pauth-impdef=on}" -smp 2 "${mem[@]}"
      -bios /usr/share/qemu-efi-aarch64/QEMU_EFI.fd
      -kernel "$kdir/vmlinuz" -initrd "$work/initrd.gz" -append "console=ttyAMA0 $append"
      -nographic -no-reboot -net none) ;;
esac

log="${MEMHP_SELFTEST_LOG:-$work/console.log}"
: >"$log"
idle="${MEMHP_SELFTEST_IDLE:-1800}"
start=$SECONDS
# A guest whose console stays silent for $idle s is stuck. A slow or busy host
# only slows the tests down (QEMU ran arm64 debug in 747 s on one host and had
# not finished after 1800 s on another, at test 163 of 165), so the guard is
# the console's silence; MEMHP_SELFTEST_TIMEOUT bounds the whole run as well.
# The longest silent step is unmapped-test.sh's 256 MiB tmpfs file and its
# migration on the KASAN kernel: over 600 s on arm64 on a loaded host.
(
  while sleep "$((idle < 30 ? idle : 30))"; do
    [ $(($(date +%s) - $(stat -c %Y "$log"))) -lt "$idle" ] && continue
    echo "selftest.sh: the guest's console was silent for $idle s: stopping QEMU" >&2
    pkill -TERM -f -- "$work/initrd.gz" || true
    break
  done
) &
watchdog=$!
timeout "${MEMHP_SELFTEST_TIMEOUT:-5400}" "${qemu[@]}" </dev/null | tee "$log" |
  grep -aE "^(ok|not ok|#|1\.\.|TAP)|memhp-selftest|WARNING:|BUG|Oops|panic|circular|inconsistent lock|recursive locking|RCU usage|Call [Tt]race:" || true
kill "$watchdog" 2>/dev/null || true
wait "$watchdog" 2>/dev/null || true
echo "selftest.sh: $arch $variant: QEMU ran $((SECONDS - start)) s"
status=0
grep -aq "memhp-selftest: exit=0" "$log" || { echo "selftest.sh: FAILED (tests failed or did not finish)" >&2; status=1; }
if ! complaints="$(bash "$(dirname "${BASH_SOURCE[0]}")/console-check.sh" "$log")"; then
  echo "selftest.sh: the kernel complained:" >&2
  printf '%s\n' "$complaints" | head -5 >&2
  status=1
fi
counts="$(grep -ac '^ok ' "$log" || true) ok ($(grep -ac '^ok .*# SKIP' "$log" || true) of them skipped), $(grep -ac '^not ok ' "$log" || true) not ok"
if [ "$status" = 0 ]; then
  echo "selftest.sh: $arch $variant: all passed: $counts"
else
  echo "selftest.sh: $arch $variant: FAILED: $counts" >&2
fi
exit "$status"
