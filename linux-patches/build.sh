#!/usr/bin/env bash
# Builds the memhp-patched Linux kernel for QEMU and installs it into the memhp
# cache: 6.1 is linux-patches/patches on Debian's linux-source-6.1, 6.12 and
# 7.2 are linux-patches/patches-6.12 and patches-7.2 on Debian's
# linux-source-6.12 (trixie) and linux-source-7.2 (sid):
#
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-patched-<arch>/       (6.1)
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-patched-<ver>-<arch>/ (6.12, 7.2)
#     vmlinuz  vmlinux  System.map  config  release  hash  modules/test_memhp.ko
#     selftests/depopulate-test.sh  selftests/unmapped-test.sh
#
# Usage: linux-patches/build.sh [x86_64|arm64] [normal|debug] [6.1|6.12|7.2]
#        (default x86_64 normal 6.1)
#        linux-patches/build.sh --print-hash VER   (the hash below, nothing built)
#
# The newer sources are downloaded (apt-get download, not installed) with the
# suite's apt lists that scripts/oracle-setup.sh keeps in the cache
# (apt-trixie-*, apt-sid-*), and kept as ${MEMHP_CACHE}/src/linux-source-<ver>.tar.xz.
#
# "debug" merges config/debug.config (lockdep, DEBUG_VM, DEBUG_LIST, KASAN,
# fault injection) and config/<arch>-debug.config too, and installs into
# linux-patched-<arch>-debug.
#
# Idempotent and cached: the output is reused when it was built from the same
# patches, config fragments and this script (the "hash"); the unpacked, patched
# tree lives in ${MEMHP_CACHE}/kbuild/linux-<ver>-patched-<hash> (other hashes are
# deleted) and compiles through ccache (CCACHE_DIR=${MEMHP_CACHE}/ccache).
# Installs missing Debian build packages when run as root (or with sudo -n).
# Environment: MEMHP_CACHE, MEMHP_NICE (niceness of make, default 0),
# MEMHP_JOBS (default nproc).
set -euo pipefail

print_hash=0
[ "${1:-}" = --print-hash ] && { print_hash=1; shift; set -- x86_64 normal "${1:-6.1}"; }
arch="${1:-x86_64}"
variant="${2:-normal}"
version="${3:-6.1}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MEMHP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/memhp}"
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
case "$version" in
  6.1) vsuffix="" patchdir="$here/patches" fixdir="$here/fixes" suite="" tarball=/usr/src/linux-source-6.1.tar.xz ;;
  6.12) vsuffix=-6.12 patchdir="$here/patches-6.12" fixdir="$here/fixes-6.12" suite=trixie ;;
  7.2) vsuffix=-7.2 patchdir="$here/patches-7.2" fixdir="$here/fixes-7.2" suite=sid ;;
  *) die "unknown version '$version' (6.1, 6.12 or 7.2)" ;;
esac
[ -n "$suite" ] && tarball="$cache/src/linux-source-$version.tar.xz"
series="$patchdir/series"
# Upstream fixes the Debian source lacks (not part of the RFC), applied first.
fixes_series="$fixdir/series"
fragments=("$here/config/common.config" "$here/config/$arch.config")
if [ "$variant" = debug ]; then
  fragments+=("$here/config/debug.config")
  [ -f "$here/config/$arch-debug.config" ] && fragments+=("$here/config/$arch-debug.config")
fi
# A release's own fragment (options renamed or gone since 6.1), merged last.
[ -f "$here/config/$version.config" ] && fragments+=("$here/config/$version.config")
[ -f "$series" ] || die "missing $series"
for f in "${fragments[@]}"; do [ -f "$f" ] || die "missing $f"; done
fixes=()
[ -f "$fixes_series" ] && mapfile -t fixes < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$fixes_series")
mapfile -t patches < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$series")

# The hash: the fixes and the patches in order, the config fragments, this script.
hash="$(
  {
    [ -n "$suite" ] && printf 'version %s\n' "$version"
    for p in "${fixes[@]}"; do printf 'fixes/%s\n' "$p"; cat "$fixdir/$p"; done
    for p in "${patches[@]}"; do printf '%s\n' "$p"; cat "$patchdir/$p"; done
    # the shared fragments (both arches and variants: one tree per hash) and
    # this release's own; another release's fragment does not rebuild this one
    for f in "$here"/config/*.config; do
      case "${f##*/}" in [0-9]*) [ "${f##*/}" = "$version.config" ] || continue ;; esac
      cat "$f"
    done
    cat "$here/build.sh"
  } | sha256sum | cut -c1-12
)"
# (the same for every arch and variant: linux-patches/debug-check.sh records by it)
[ "$print_hash" -eq 1 ] && { printf '%s\n' "$hash"; exit 0; }
dest="$cache/linux-patched$vsuffix-$arch$suffix"
tree="$cache/kbuild/linux-$version-patched-$hash"
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
[ -f "$tarball" ] || [ -n "$suite" ] || need+=(linux-source-6.1)
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
if [ ! -f "$tarball" ] && [ -n "$suite" ]; then
  # the suite's lists of scripts/oracle-setup.sh (any architecture: the source is "all")
  aptd=""
  for d in "$cache/apt-$suite-$(dpkg --print-architecture)" "$cache"/apt-"$suite"-*; do
    [ -z "$aptd" ] && [ -s "$d/sources.list" ] && aptd="$d"
  done
  [ -n "$aptd" ] || die "no apt lists for $suite in $cache (run scripts/oracle-setup.sh first)"
  a=(-oDir::State::Lists="$aptd/lists" -oDir::Cache="$aptd/cache"
    -oDir::Etc::SourceList="$aptd/sources.list" -oDir::Etc::SourceParts="$aptd/sources.list.d")
  [ "$(id -u)" -eq 0 ] && a+=(-oAPT::Sandbox::User=root)
  dl="$(mktemp -d)"
  say "downloading linux-source-$version ($suite)"
  (cd "$dl" && apt-get "${a[@]}" download -qq "linux-source-$version") ||
    (apt-get "${a[@]}" update -qq && cd "$dl" && apt-get "${a[@]}" download -qq "linux-source-$version") ||
    die "cannot download linux-source-$version"
  dpkg -x "$dl"/linux-source-"$version"_*.deb "$dl/x"
  mkdir -p "$cache/src"
  mv "$dl/x/usr/src/linux-source-$version.tar.xz" "$tarball"
  rm -rf "$dl"
fi
[ -f "$tarball" ] || die "missing $tarball"

# --- source tree ---------------------------------------------------------------
mkdir -p "$cache/kbuild"
for old in "$cache"/kbuild/linux-"$version"-patched-*; do
  case "$old" in "$tree" | "$tree".*) continue ;; esac # this hash's own (being made)
  [ -e "$old" ] && { say "deleting old tree $old"; rm -rf "$old"; }
done
if [ ! -f "$tree/.memhp-patched" ]; then
  rm -rf "$tree" "$tree.tmp"
  mkdir -p "$tree.tmp"
  say "unpacking $tarball"
  tar -xf "$tarball" -C "$tree.tmp"
  src_tmp="$tree.tmp/linux-source-$version"
  for p in "${fixes[@]}"; do
    say "applying ${fixdir##*/}/$p"
    patch -d "$src_tmp" -p1 -s --no-backup-if-mismatch <"$fixdir/$p" ||
      die "fix $p does not apply"
  done
  for p in "${patches[@]}"; do
    say "applying ${patchdir##*/}/$p"
    patch -d "$src_tmp" -p1 -s --no-backup-if-mismatch <"$patchdir/$p" ||
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
# Depend mode: a miss compiles once and reads the compiler's -MMD file instead
# of running the preprocessor first, which cost a cold build about a fifth
# more CPU than no ccache at all (mm/page_alloc.c, kernel/fork.c, fs/namei.c).
export CCACHE_DEPEND=1
mkdir -p "$CCACHE_DIR" "$out"
mk=(make -C "$src" O="$out" ARCH="$karch" CROSS_COMPILE="$cross" CC="ccache ${cross}gcc")
if [ ! -f "$out/.memhp-config" ]; then
  say "configuring $arch: tinyconfig + ${fragments[*]##*/}"
  "${mk[@]}" -s tinyconfig >/dev/null
  (cd "$src" && ARCH="$karch" CROSS_COMPILE="$cross" \
    scripts/kconfig/merge_config.sh -m -O "$out" "$out/.config" "${fragments[@]}" >/dev/null)
  "${mk[@]}" -s olddefconfig >/dev/null
  # Options a release no longer has at all (nothing can set them): not checked
  # there. 7.2: arm64's RODATA_FULL_DEFAULT_ENABLED is gone, rodata_full is
  # always on by default (rodata=on).
  gone=" "
  [ "$version" = 7.2 ] && gone=" CONFIG_RODATA_FULL_DEFAULT_ENABLED "
  bad=0
  while IFS= read -r line; do
    key="${line%%=*}" val="${line#*=}"
    case "$gone" in *" $key "*) say "config: $key does not exist in $version, not checked"; continue ;; esac
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
# the default target: the image and the modules, in one walk of the tree
nice -n "$nice_level" "${mk[@]}" -s -j"$jobs"
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
