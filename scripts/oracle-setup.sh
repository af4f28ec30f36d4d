#!/usr/bin/env bash
# Installs what `memhp oracle` needs: QEMU, busybox-static, cpio, and Debian's
# Linux 6.1 cloud kernel unpacked (not installed) into the memhp cache folder.
# Idempotent, no prompts. Usage: scripts/oracle-setup.sh [x86_64|arm64|all] [6.1|6.12|all]
# (default x86_64 and 6.1; arm64 also needs qemu-system-arm and qemu-efi-aarch64 and
# takes the arm64 kernel and busybox-static from Debian's arm64 lists). 6.12 is
# Debian 13's (trixie's) cloud kernel, read from trixie's lists kept in the
# cache (apt-trixie-amd64, apt-trixie-arm64), the host's own apt state untouched.
#
# Cache layout (src/oracle/cache.ts finds the files by glob, since the ABI
# number in the package name changes with every security update):
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-x86_64/boot/vmlinuz-6.1.0-NN-cloud-amd64
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-x86_64/lib/modules/6.1.0-NN-cloud-amd64/...
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-arm64/boot/vmlinuz-6.1.0-NN-cloud-arm64
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-arm64/bin/busybox   (arm64 busybox-static)
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-6.12-x86_64/boot/vmlinuz-6.12.NN+debMM-cloud-amd64
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-6.12-arm64/boot/vmlinuz-6.12.NN+debMM-cloud-arm64
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-6.12-arm64/bin/busybox   (trixie's arm64 busybox-static)
set -euo pipefail

arch="${1:-x86_64}"
kernels="${2:-6.1}"
cache="${MEMHP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/memhp}"
export DEBIAN_FRONTEND=noninteractive

say() { printf 'oracle-setup: %s\n' "$*" >&2; }

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

apt_updated=0
apt_update() {
  if [ "$apt_updated" -eq 0 ]; then
    say "apt-get update"
    sudo_if_needed apt-get update -qq
    apt_updated=1
  fi
}

# True when apt knows a candidate version for package $1.
has_candidate() {
  local c
  c="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')"
  [ -n "$c" ] && [ "$c" != "(none)" ]
}

# Install host packages that are missing.
install_host_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  for p in "${missing[@]}"; do has_candidate "$p" || apt_update; done
  say "apt-get install ${missing[*]}"
  sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# The versioned image package a meta package (linux-image-cloud-amd64) depends on.
image_package_of() {
  apt-cache depends "$1" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}

# Download meta package $1 and its image package, unpack both into $2. Stale
# package lists (the mirror moved on to a newer ABI) get one apt-get update.
fetch_kernel() {
  local meta="$1" dest="$2" attempt
  has_candidate "$meta" || apt_update
  for attempt in 1 2; do
    if try_fetch_kernel "$meta" "$dest"; then return 0; fi
    [ "$apt_updated" -eq 0 ] || break
    apt_update
  done
  say "cannot download $meta"
  exit 1
}

try_fetch_kernel() {
  local meta="$1" dest="$2" image release tmp deb
  image="$(image_package_of "$meta")"
  [ -n "$image" ] || return 1
  release="${image#linux-image-}"
  if [ -f "$dest/boot/vmlinuz-$release" ] && [ -d "$dest/lib/modules/$release" ]; then
    say "kernel $release already in $dest"
    return 0
  fi
  say "downloading $meta and $image"
  tmp="$(mktemp -d)"
  # apt-get download drops to the _apt user, which must be able to write here.
  if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$tmp"; else chmod 755 "$tmp"; fi
  if ! (cd "$tmp" && apt-get download -qq "$meta" "$image"); then
    rm -rf "$tmp"
    return 1
  fi
  mkdir -p "$dest"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$dest"; done
  rm -rf "$tmp"
  [ -f "$dest/boot/vmlinuz-$release" ] || { say "vmlinuz-$release missing after unpacking"; return 1; }
  say "kernel $release unpacked into $dest"
}

# Debian's arm64 package lists, kept in the cache (not in /var/lib/apt/lists, so
# the host's own apt state is untouched): apt-get/apt-cache with these options
# see the arm64 archive only. The lists and apt's binary caches live in
# $cache/apt-arm64/.
arm64_apt_dir="$cache/apt-arm64"
arm64_apt_opts=(
  -oAPT::Architecture=arm64 -oAPT::Architectures=arm64
  "-oDir::State::Lists=$arm64_apt_dir/lists"
  "-oDir::Cache=$arm64_apt_dir/cache"
)
# As root, download as root: the _apt sandbox user cannot enter a cache under
# root's home (apt would fall back with a warning anyway).
if [ "$(id -u)" -eq 0 ]; then arm64_apt_opts+=(-oAPT::Sandbox::User=root); fi
arm64_apt_update() {
  mkdir -p "$arm64_apt_dir/lists/partial" "$arm64_apt_dir/cache/archives/partial"
  say "apt-get update (arm64 lists in $arm64_apt_dir)"
  apt-get "${arm64_apt_opts[@]}" update -qq
}

# Everything the arm64 oracle needs from Debian's arm64 archive, unpacked with
# dpkg -x into $1: the cloud kernel (meta + versioned image) and busybox-static.
fetch_arm64() {
  local dest="$1" image release tmp deb attempt
  for attempt in 1 2; do
    if [ "$attempt" -eq 2 ] || [ ! -d "$arm64_apt_dir/lists" ] ||
      ! ls "$arm64_apt_dir/lists/"*_Packages* >/dev/null 2>&1; then
      arm64_apt_update
    fi
    image="$(apt-cache "${arm64_apt_opts[@]}" depends linux-image-cloud-arm64 2>/dev/null |
      awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
    [ -n "$image" ] || continue
    release="${image#linux-image-}"
    if [ -f "$dest/boot/vmlinuz-$release" ] && [ -d "$dest/lib/modules/$release" ] &&
      [ -x "$dest/bin/busybox" ]; then
      say "arm64 kernel $release and busybox already in $dest"
      return 0
    fi
    say "downloading linux-image-cloud-arm64, $image and busybox-static (arm64)"
    tmp="$(mktemp -d)"
    chmod 755 "$tmp"
    if (cd "$tmp" && apt-get "${arm64_apt_opts[@]}" download -qq linux-image-cloud-arm64 "$image" busybox-static); then
      mkdir -p "$dest"
      for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$dest"; done
      rm -rf "$tmp"
      if [ -f "$dest/boot/vmlinuz-$release" ] && [ -x "$dest/bin/busybox" ]; then
        say "arm64 kernel $release and busybox unpacked into $dest"
        return 0
      fi
      say "vmlinuz-$release or bin/busybox missing after unpacking"
    fi
    rm -rf "$tmp"
  done
  say "cannot download the arm64 packages"
  exit 1
}

# Another Debian suite's package lists for one architecture, kept in the cache
# ($cache/apt-SUITE-DEBARCH/: sources.list, lists, apt's caches) so that the
# host's apt state is untouched. The archive is the one the host already uses
# (its bookworm entries, read with apt-get indextargets), or
# $MEMHP_DEBIAN_ARCHIVE / $MEMHP_DEBIAN_SECURITY when set. Sets suite_apt_opts.
suite_apt_opts=()
host_archive_uri() {
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
    awk -v want="$1" '$2 == want {print $1; exit}'
}
suite_apt() {
  local suite="$1" debarch="$2" dir="$cache/apt-$1-$2" main sec key
  key=/usr/share/keyrings/debian-archive-keyring.gpg
  suite_apt_opts=(
    "-oAPT::Architecture=$debarch" "-oAPT::Architectures=$debarch"
    "-oDir::State::Lists=$dir/lists" "-oDir::Cache=$dir/cache"
    "-oDir::Etc::SourceList=$dir/sources.list" "-oDir::Etc::SourceParts=$dir/sources.list.d"
  )
  if [ "$(id -u)" -eq 0 ]; then suite_apt_opts+=(-oAPT::Sandbox::User=root); fi
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/sources.list.d"
  if [ ! -s "$dir/sources.list" ]; then
    main="${MEMHP_DEBIAN_ARCHIVE:-$(host_archive_uri bookworm)}"
    sec="${MEMHP_DEBIAN_SECURITY:-$(host_archive_uri bookworm-security)}"
    [ -n "$main" ] || { say "no Debian archive in the host's apt sources (set MEMHP_DEBIAN_ARCHIVE)"; exit 1; }
    {
      echo "deb [signed-by=$key] $main $suite main"
      echo "deb [signed-by=$key] $main $suite-updates main"
      [ -z "$sec" ] || echo "deb [signed-by=$key] $sec $suite-security main"
    } >"$dir/sources.list"
  fi
  if ! ls "$dir/lists/"*_Packages* >/dev/null 2>&1; then
    say "apt-get update ($suite $debarch lists in $dir)"
    apt-get "${suite_apt_opts[@]}" update -qq
  fi
}

# Debian SUITE's cloud kernel for DEBARCH (meta package, versioned image, and
# the extra packages named after DEST, e.g. busybox-static) unpacked into DEST.
# Stale lists (the suite moved on to a newer ABI) get one update.
fetch_suite_kernel() {
  local suite="$1" debarch="$2" dest="$3" image release tmp deb attempt
  shift 3
  local meta="linux-image-cloud-$debarch"
  for attempt in 1 2; do
    suite_apt "$suite" "$debarch"
    if [ "$attempt" -eq 2 ]; then
      say "apt-get update ($suite $debarch)"
      apt-get "${suite_apt_opts[@]}" update -qq
    fi
    image="$(apt-cache "${suite_apt_opts[@]}" depends "$meta" 2>/dev/null |
      awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
    [ -n "$image" ] || continue
    release="${image#linux-image-}"
    if [ -f "$dest/boot/vmlinuz-$release" ] && [ -d "$dest/lib/modules/$release" ] &&
      { [ "$#" -eq 0 ] || [ -x "$dest/bin/busybox" ] || [ -x "$dest/usr/bin/busybox" ]; }; then
      say "$suite kernel $release already in $dest"
      return 0
    fi
    say "downloading $meta, $image $* ($suite $debarch)"
    tmp="$(mktemp -d)"
    chmod 755 "$tmp"
    if (cd "$tmp" && apt-get "${suite_apt_opts[@]}" download -qq "$meta" "$image" "$@"); then
      mkdir -p "$dest"
      for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$dest"; done
      rm -rf "$tmp"
      # trixie's packages are merged-/usr (usr/lib/modules) and compress their
      # modules (.ko.xz): give the cache the 6.1 layout, and the modules the
      # guest loads uncompressed (busybox's insmod reads them as they are).
      if [ ! -e "$dest/lib" ] && [ -d "$dest/usr/lib/modules" ]; then ln -s usr/lib "$dest/lib"; fi
      find "$dest/lib/modules/$release/kernel/drivers/virtio" "$dest/lib/modules/$release/kernel/drivers/char" \
        -name '*.ko.xz' -exec xz -dkf {} + 2>/dev/null || true
      if [ -f "$dest/boot/vmlinuz-$release" ] && [ -d "$dest/lib/modules/$release" ]; then
        say "$suite kernel $release unpacked into $dest"
        return 0
      fi
      say "vmlinuz-$release missing after unpacking"
    fi
    rm -rf "$tmp"
  done
  say "cannot download $meta from $suite ($debarch)"
  exit 1
}

setup_x86_64_612() {
  install_host_packages qemu-system-x86 busybox-static cpio
  fetch_suite_kernel trixie amd64 "$cache/linux-6.12-x86_64"
}

setup_arm64_612() {
  install_host_packages qemu-system-arm qemu-efi-aarch64
  fetch_suite_kernel trixie arm64 "$cache/linux-6.12-arm64" busybox-static
}

setup_x86_64() {
  install_host_packages qemu-system-x86 busybox-static cpio
  fetch_kernel linux-image-cloud-amd64 "$cache/linux-x86_64"
}

setup_arm64() {
  install_host_packages qemu-system-arm qemu-efi-aarch64
  fetch_arm64 "$cache/linux-arm64"
}

case "$arch" in
  x86_64 | amd64) arches=(x86_64) ;;
  arm64 | aarch64) arches=(arm64) ;;
  all) arches=(x86_64 arm64) ;;
  *)
    say "unknown arch $arch (x86_64 | arm64 | all)"
    exit 2
    ;;
esac
case "$kernels" in
  6.1) versions=(6.1) ;;
  6.12) versions=(6.12) ;;
  all) versions=(6.1 6.12) ;;
  *)
    say "unknown kernel $kernels (6.1 | 6.12 | all)"
    exit 2
    ;;
esac
for v in "${versions[@]}"; do
  for a in "${arches[@]}"; do
    if [ "$v" = 6.1 ]; then "setup_$a"; else "setup_${a}_612"; fi
  done
done
