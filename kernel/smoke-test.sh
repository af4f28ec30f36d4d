#!/usr/bin/env bash
# Boots the patched kernel (kernel/build.sh x86_64) under QEMU TCG once and
# runs the RFC API through /sys/kernel/debug/memhp/ctl: the path (add, online,
# offline, depopulate, online refused, populate, online, remove while
# depopulated) and the refusals, checking every result in the guest.
# Exits non-zero on any mismatch. Usage: kernel/smoke-test.sh [x86_64]
#
# Driver-managed memory: a cold-plugged 4 GiB pc-dimm sits at
# 0x100000000-0x1ffffffff (the device-memory region starts at 4 GiB, above the
# 2 GiB of boot RAM); acpi_no_memhotplug keeps the ACPI memory driver from
# adding it, so the test module's add_memory_driver_managed() can.
set -euo pipefail

arch="${1:-x86_64}"
[ "$arch" = x86_64 ] || { echo "smoke-test.sh: only x86_64 for now" >&2; exit 2; }
cache="${MEMHP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/memhp}"
kdir="$cache/linux-patched-$arch"
busybox="${MEMHP_BUSYBOX:-/bin/busybox}"
[ -f "$kdir/vmlinuz" ] || { echo "smoke-test.sh: run kernel/build.sh $arch first" >&2; exit 2; }
file -L "$busybox" 2>/dev/null | grep -q "statically linked" ||
  { echo "smoke-test.sh: need a static busybox (busybox-static) at $busybox" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$busybox" "$root/bin/busybox"
cp "$kdir/modules/test_memhp.ko" "$root/lib/modules/"

cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
fails=0
ctl=/sys/kernel/debug/memhp/ctl
mem=/sys/devices/system/memory
pt=/sys/kernel/debug/page_tables/kernel
ok() { echo "PASS: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
# call EXPECT FN START SIZE...: EXPECT is ok or an errno name
call() {
  want="$1"; shift
  if echo "$*" 2>/tmp/err >"$ctl"; then got=ok; else got="$(cat /tmp/err)"; fi
  case "$want" in
    ok) text=ok ;;
    EINVAL) text="Invalid argument" ;;
    EBUSY) text="Device or resource busy" ;;
    EOPNOTSUPP) text="Operation not supported" ;;
    ENOSYS) text="Function not implemented" ;;
  esac
  case "$got" in
    *"$text"*) ok "$* -> $want" ;;
    *) bad "$* -> wanted $want, got: $got" ;;
  esac
}
# state EXPECT BLOCK [VALUE]: write VALUE to memoryBLOCK/state first
state() {
  want="$1" b="$2"
  if [ -n "${3:-}" ]; then
    if echo "$3" 2>/tmp/err >"$mem/memory$b/state"; then r=ok; else r="$(cat /tmp/err)"; fi
    echo "  echo $3 > memory$b/state: $r"
  fi
  got="$(cat "$mem/memory$b/state" 2>/dev/null || echo missing)"
  [ "$got" = "$want" ] && ok "memory$b $want" || bad "memory$b: wanted $want, got $got"
}
depop() {
  got="$(cat /sys/kernel/debug/memhp/depopulated | tr '\n' ';')"
  [ "$got" = "$1" ] && ok "depopulated = '$1'" || bad "depopulated: wanted '$1', got '$got'"
}
# mapped PA: is physical address PA the start of a mapped run in the page-table dump?
dm() { printf '0xffff888%09x' "$1"; }
# (x86 ptdump prints holes too, without attributes: a mapped run says RW or ro)
mapped_at() { grep -E "^$(dm "$1")-" "$pt" | grep -qE " (RW|ro) "; }
meminfo() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }
expect_eq() { [ "$2" = "$3" ] && ok "$1 = $3" || bad "$1: wanted $3, got $2"; }

echo "memhp smoke test: $(uname -r)"
insmod /lib/modules/test_memhp.ko || bad "insmod"
grep DirectMap /proc/meminfo
dm1g0="$(meminfo DirectMap1G)"; dm2m00="$(meminfo DirectMap2M)"

echo "== the RFC path"
call ok add_memory_driver_managed 0x108000000 0x20000000
grep -q "108000000-127ffffff : System RAM (memhp)" /proc/iomem && ok "iomem has System RAM (memhp)" || bad "iomem: $(grep memhp /proc/iomem)"
for b in 33 34 35 36; do state offline $b; done
dm2m0="$(meminfo DirectMap2M)"
expect_eq "DirectMap2M after add" "$((dm2m0 - dm2m00))" 524288
state online 34 online_movable
call EBUSY depopulate_range_driver_managed 0x110000000 0x8000000
state offline 34 offline
depop ""
call ok depopulate_range_driver_managed 0x110000000 0x8000000
depop "memory34 0x110000000-0x117ffffff;"
expect_eq "DirectMap2M drop" "$((dm2m0 - $(meminfo DirectMap2M)))" 131072
grep "^$(dm 0x108000000)\|^$(dm 0x110000000)\|^$(dm 0x118000000)" "$pt" | sed 's/^/  /'
mapped_at 0x110000000 && bad "page tables still map 0x110000000" || ok "page tables: hole at 0x110000000"
grep -q -- "-$(dm 0x110000000) " "$pt" && mapped_at 0x118000000 && ok "page tables: neighbours mapped" || bad "page tables: neighbours"
call ok depopulate_range_driver_managed 0x110000000 0x8000000
depop "memory34 0x110000000-0x117ffffff;"
state offline 34 online_movable
state offline 34 online
call ok populate_range_driver_managed 0x110000000 0x8000000
depop ""
expect_eq "DirectMap2M back" "$(meminfo DirectMap2M)" "$dm2m0"
grep "^$(dm 0x108000000)-" "$pt" | sed 's/^/  /'
mapped_at 0x110000000 || grep -E "^$(dm 0x108000000)-$(dm 0x128000000) " "$pt" | grep -qE " (RW|ro) " && ok "page tables: mapped again" || bad "page tables: not mapped again"
call ok populate_range_driver_managed 0x110000000 0x8000000
state online 34 online_movable
call EBUSY remove_memory 0x108000000 0x20000000
state offline 34 offline
call ok depopulate_range_driver_managed 0x110000000 0x10000000
depop "memory34 0x110000000-0x117ffffff;memory35 0x118000000-0x11fffffff;"
call ok populate_range_driver_managed 0x110000000 0x8000000
depop "memory35 0x118000000-0x11fffffff;"
echo "== remove while depopulated"
call ok remove_memory 0x108000000 0x20000000
depop ""
grep -q "System RAM (memhp)" /proc/iomem && bad "iomem still has memhp" || ok "iomem: memhp gone"
state missing 34
expect_eq "DirectMap2M after remove" "$(meminfo DirectMap2M)" "$dm2m00"
mapped_at 0x108000000 && bad "page tables: 0x108000000 still mapped" || ok "page tables: removed range unmapped"

echo "== refusals"
call EINVAL depopulate_range_driver_managed 0x108100000 0x8000000
call EINVAL depopulate_range_driver_managed 0x108000000 0x100000
call EINVAL depopulate_range_driver_managed 0x108000000 0
call EINVAL populate_range_driver_managed 0x108000000 0x8000000
call EINVAL depopulate_range_driver_managed 0x0 0x8000000
call EINVAL depopulate_range_driver_managed 0x8000000 128M
call ok add_memory 0x180000000 0x8000000
state offline 48
call EINVAL depopulate_range_driver_managed 0x180000000 0x8000000
call ok remove_memory 0x180000000 0x8000000
call ENOSYS frobnicate 0x180000000 0x8000000
call EINVAL depopulate_range_driver_managed 0xzz 0x8000000
echo "== a 1G-aligned GiB: one 1G page"
call ok add_memory_driver_managed 0x140000000 1G
dm1g1="$(meminfo DirectMap1G)"
expect_eq "DirectMap1G after add" "$((dm1g1 - dm1g0))" 1048576
call EINVAL depopulate_range_driver_managed 0x148000000 0x8000000
call EINVAL depopulate_range_driver_managed 0x140000000 0x8000000
call ok depopulate_range_driver_managed 0x140000000 0x40000000
expect_eq "DirectMap1G after depopulate" "$(meminfo DirectMap1G)" "$dm1g0"
call ok populate_range_driver_managed 0x140000000 0x40000000
expect_eq "DirectMap1G after populate" "$(meminfo DirectMap1G)" "$dm1g1"
state online 41 online_movable
state offline 41 offline
call ok depopulate_range_driver_managed 0x140000000 0x40000000
call ok offline_and_remove_memory 0x140000000 0x40000000
expect_eq "DirectMap1G after remove" "$(meminfo DirectMap1G)" "$dm1g0"
echo "== memmap_on_memory"
call ok add_memory_driver_managed 0x1c0000000 0x8000000 MHP_MEMMAP_ON_MEMORY
call EOPNOTSUPP depopulate_range_driver_managed 0x1c0000000 0x8000000
call ok remove_memory 0x1c0000000 0x8000000
depop ""
grep DirectMap /proc/meminfo
echo "SMOKE-DONE fails=$fails"
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

log="${MEMHP_SMOKE_LOG:-$work/console.log}"
start=$SECONDS
timeout "${MEMHP_SMOKE_TIMEOUT:-600}" qemu-system-x86_64 -accel tcg -machine pc -cpu max,la57=off \
  -m 2G,slots=4,maxmem=6G -smp 2 -nographic -no-reboot -net none \
  -object memory-backend-ram,id=m0,size=4G -device pc-dimm,id=d0,memdev=m0 \
  -kernel "$kdir/vmlinuz" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 nokaslr acpi_no_memhotplug memory_hotplug.memmap_on_memory=1 panic=-1" \
  </dev/null | tee "$log" | grep -E "^(PASS|FAIL|==|  |memhp|SMOKE|DirectMap)|BUG|Oops|panic|WARNING" || true
echo "smoke-test.sh: QEMU ran $((SECONDS - start)) s"
grep -q "SMOKE-DONE fails=0" "$log" || { echo "smoke-test.sh: FAILED" >&2; exit 1; }
! grep -qE "BUG:|Oops|WARNING:|Kernel panic" "$log" || { echo "smoke-test.sh: kernel complained" >&2; exit 1; }
echo "smoke-test.sh: all passed"
