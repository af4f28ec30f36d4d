#!/usr/bin/env bash
# Builds the memhp-patched Linux 6.1 kernel (linux-patches/patches on Debian's
# linux-source-6.1) for QEMU and installs it into the memhp cache:
#
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-patched-<arch>/
#     vmlinuz  vmlinux  System.map  config  release  hash  modules/test_memhp.ko
#     selftests/depopulate-test.sh  selftests/unmapped-test.sh
#
# Usage: linux-patches/build.sh [x86_64|arm64] [normal|debug]    (default x86_64 normal)
#
# "debug" merges config/debug.config (lockdep, DEBUG_VM, DEBUG_LIST, KASAN,
# fault injection) and config/<arch>-debug.config too, and installs into
# linux-patched-<arch>-debug.
#
# Idempotent and cached: the output is reused when it was built from the same
# patches, config fragments and this script (the "hash"); the unpacked, patched
# tree lives in ${MEMHP_CACHE}/kbuild/linux-6.1-patched-<hash> (other hashes are
# deleted) and compiles through ccache (CCACHE_DIR=${MEMHP_CACHE}/ccache).
# Installs missing Debian build packages when run as root (or with sudo -n).
# Environment: MEMHP_CACHE, MEMHP_NICE (niceness of make, default 0),
# MEMHP_JOBS (default nproc).
set -euo pipefail

arch="${1:-x86_64}"
variant="${2:-normal}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MEMHP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/memhp}"
tarball=/usr/src/linux-source-6.1.tar.xz
jobs="${MEMHP_JOBS:-$(nproc)}"
nice_level="${MEMHP_NICE:-0}"
export DEBIAN_FRONTEND=noninteractive
t0=$SECONDS

say() { printf 'linux-patches/build.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

case "$arch" in
  x86_64)
    karch=x86_64 image=arch/x86/boot/bzImage cross="" ;;
  arm64 | aarch64)
    arch=arm64 karch=arm64 image=arch/arm64/boot/Image
    cross=""
    [ "$(uname -m)" = aarch64 ] || cross=aarch64-linux-gnu- ;;
  *) die "unknown architecture '$arch' (x86_64 or arm64)" ;;
esac

case "$variant" in
  normal) suffix="" ;;
  debug) suffix=-debug ;;
  *) die "unknown variant '$variant' (normal or debug)" ;;
esac
series="$here/patches/series"
# Upstream fixes Debian's 6.1 lacks (not part of the RFC), applied first.
fixes_series="$here/fixes/series"
fragments=("$here/config/common.config" "$here/config/$arch.config")
if [ "$variant" = debug ]; then
  fragments+=("$here/config/debug.config")
  [ -f "$here/config/$arch-debug.config" ] && fragments+=("$here/config/$arch-debug.config")
fi
[ -f "$series" ] || die "missing $series"
[ -f "$fixes_series" ] || die "missing $fixes_series"
for f in "${fragments[@]}"; do [ -f "$f" ] || die "missing $f"; done
mapfile -t fixes < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$fixes_series")
mapfile -t patches < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$series")

# The hash: the fixes and the patches in order, every config fragment, this script.
hash="$(
  {
    for p in "${fixes[@]}"; do printf 'fixes/%s\n' "$p"; cat "$here/fixes/$p"; done
    for p in "${patches[@]}"; do printf '%s\n' "$p"; cat "$here/patches/$p"; done
    cat "$here"/config/*.config "$here/build.sh"
  } | sha256sum | cut -c1-12
)"
dest="$cache/linux-patched-$arch$suffix"
tree="$cache/kbuild/linux-6.1-patched-$hash"
out="$tree/out-$arch$suffix"

if [ -f "$dest/hash" ] && [ "$(cat "$dest/hash")" = "$hash" ] &&
  [ -f "$dest/vmlinuz" ] && [ -f "$dest/modules/test_memhp.ko" ] &&
  [ -f "$dest/selftests/depopulate-test.sh" ]; then
  say "reusing $dest (hash $hash, $(cat "$dest/release"))"
  exit 0
fi

# --- host packages -----------------------------------------------------------
sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}
need=(flex bison bc libelf-dev libssl-dev ccache cpio perl make gcc xz-utils)
[ -n "$cross" ] && need+=(gcc-aarch64-linux-gnu)
[ -f "$tarball" ] || need+=(linux-source-6.1)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    { sudo_if_needed apt-get update -qq && sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}"; } ||
    die "cannot install ${missing[*]}"
fi
[ -f "$tarball" ] || die "missing $tarball"

# --- source tree ---------------------------------------------------------------
mkdir -p "$cache/kbuild"
for old in "$cache"/kbuild/linux-6.1-patched-*; do
  [ -e "$old" ] && [ "$old" != "$tree" ] && { say "deleting old tree $old"; rm -rf "$old"; }
done
if [ ! -f "$tree/.memhp-patched" ]; then
  rm -rf "$tree" "$tree.tmp"
  mkdir -p "$tree.tmp"
  say "unpacking $tarball"
  tar -xf "$tarball" -C "$tree.tmp"
  src_tmp="$tree.tmp/linux-source-6.1"
  for p in "${fixes[@]}"; do
    say "applying fixes/$p"
    patch -d "$src_tmp" -p1 -s --no-backup-if-mismatch <"$here/fixes/$p" ||
      die "fix $p does not apply"
  done
  for p in "${patches[@]}"; do
    say "applying $p"
    patch -d "$src_tmp" -p1 -s --no-backup-if-mismatch <"$here/patches/$p" ||
      die "patch $p does not apply"
  done
  mv "$src_tmp" "$tree.src" && rm -rf "$tree.tmp" && mkdir -p "$tree" &&
    mv "$tree.src" "$tree/src"
  touch "$tree/.memhp-patched"
fi
src="$tree/src"

# --- configure -------------------------------------------------------------------
export CCACHE_DIR="${CCACHE_DIR:-$cache/ccache}"
# Paths relative to the tree, so that a tree of another hash hits the cache.
export CCACHE_BASEDIR="$tree" CCACHE_NOHASHDIR=1
mkdir -p "$CCACHE_DIR" "$out"
mk=(make -C "$src" O="$out" ARCH="$karch" CROSS_COMPILE="$cross" CC="ccache ${cross}gcc")
if [ ! -f "$out/.memhp-config" ]; then
  say "configuring $arch: tinyconfig + ${fragments[*]##*/}"
  "${mk[@]}" -s tinyconfig >/dev/null
  (cd "$src" && ARCH="$karch" CROSS_COMPILE="$cross" \
    scripts/kconfig/merge_config.sh -m -O "$out" "$out/.config" "${fragments[@]}" >/dev/null)
  "${mk[@]}" -s olddefconfig >/dev/null
  bad=0
  while IFS= read -r line; do
    key="${line%%=*}" val="${line#*=}"
    if [ "$val" = n ]; then
      grep -q "^$key=" "$out/.config" && { say "config: $key is set, wanted off"; bad=1; }
    else
      grep -qx "$line" "$out/.config" || {
        say "config: wanted $line, got: $(grep -E "^$key=|^# $key is not set" "$out/.config" || echo nothing)"
        bad=1
      }
    fi
  done < <(cat "${fragments[@]}" | sed -e 's/#.*//' -e '/^[[:space:]]*$/d')
  [ "$bad" -eq 0 ] || die "the config fragments did not all apply"
  touch "$out/.memhp-config"
fi

# --- build -----------------------------------------------------------------------
say "building $arch $variant in $out (make -j$jobs, ccache in $CCACHE_DIR)"
tb=$SECONDS
nice -n "$nice_level" "${mk[@]}" -s -j"$jobs"
nice -n "$nice_level" "${mk[@]}" -s -j"$jobs" modules
say "make took $((SECONDS - tb)) s"
[ -f "$out/Module.symvers" ] || die "no Module.symvers"

# --- install ---------------------------------------------------------------------
release="$("${mk[@]}" -s kernelrelease)"
stage="$dest.tmp"
rm -rf "$stage"
mkdir -p "$stage/modules" "$stage/selftests"
cp "$out/$image" "$stage/vmlinuz"
cp "$out/vmlinux" "$stage/vmlinux"
cp "$out/System.map" "$stage/System.map"
cp "$out/.config" "$stage/config"
printf '%s\n' "$release" >"$stage/release"
cp "$out/lib/test_memhp.ko" "$stage/modules/test_memhp.ko"
for t in depopulate-test.sh unmapped-test.sh; do
  [ -f "$src/tools/testing/selftests/memory-hotplug/$t" ] &&
    cp "$src/tools/testing/selftests/memory-hotplug/$t" "$stage/selftests/"
done
printf '%s\n' "$hash" >"$stage/hash"
rm -rf "$dest"
mv "$stage" "$dest"
say "installed $release into $dest (hash $hash) in $((SECONDS - t0)) s"
