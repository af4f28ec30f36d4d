#!/usr/bin/env bash
# Installs what `memhp oracle` needs: QEMU, busybox-static, cpio, and Debian's
# cloud kernels unpacked (not installed) into the memhp cache folder.
# Idempotent, no prompts. Usage:
#   scripts/oracle-setup.sh [x86_64|arm64|all] [6.1|6.12|7.2|all]
# (default x86_64 and 6.1; arm64 also needs qemu-system-arm and qemu-efi-aarch64 and
# takes the arm64 kernel and busybox-static from Debian's arm64 lists). Each
# release comes from one Debian suite: 6.1 from bookworm (Debian 12), 6.12 from
# trixie (Debian 13), 7.2 from sid (unstable). Suites other than the host's are
# read from their own lists kept in the cache (apt-trixie-amd64, apt-sid-arm64,
# ...), the host's own apt state untouched.
#
# Cache layout (src/oracle/cache.ts finds the files by glob, since the ABI
# number in the package name changes with every security update):
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-x86_64/boot/vmlinuz-6.1.0-NN-cloud-amd64
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-x86_64/lib/modules/6.1.0-NN-cloud-amd64/...
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-arm64/boot/vmlinuz-6.1.0-NN-cloud-arm64
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-arm64/bin/busybox   (arm64 busybox-static)
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-6.12-x86_64/boot/vmlinuz-6.12.NN+debMM-cloud-amd64
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-6.12-arm64/usr/bin/busybox   (trixie's arm64 busybox-static)
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-7.2-x86_64/boot/vmlinuz-7.2.N+debMM-cloud-amd64
#   ${MEMHP_CACHE:-$HOME/.cache/memhp}/linux-7.2-arm64/boot/vmlinuz-7.2.N+debMM-cloud-arm64
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

# apt's view of one Debian suite for one architecture, set in apt_opts (empty:
# the host's own apt state). bookworm (6.1) for the host's architecture is the
# host's lists; bookworm for arm64 is the host's sources with arm64 lists kept
# in $cache/apt-arm64/; another suite (trixie: 6.12, sid: 7.2) has its own
# sources.list and lists in $cache/apt-SUITE-DEBARCH/. The host's apt state is
# never changed but by `apt-get update` of the host's own lists.
apt_opts=()
apt_dir=""
host_archive_uri() {
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
    awk -v want="$1" '$2 == want {print $1; exit}'
}
host_debarch() { dpkg --print-architecture; }
suite_apt() {
  local suite="$1" debarch="$2" main sec key=/usr/share/keyrings/debian-archive-keyring.gpg
  apt_opts=()
  apt_dir=""
  if [ "$suite" = bookworm ] && [ "$debarch" = "$(host_debarch)" ]; then return 0; fi
  if [ "$suite" = bookworm ]; then apt_dir="$cache/apt-$debarch"; else apt_dir="$cache/apt-$suite-$debarch"; fi
  apt_opts=(
    "-oAPT::Architecture=$debarch" "-oAPT::Architectures=$debarch"
    "-oDir::State::Lists=$apt_dir/lists" "-oDir::Cache=$apt_dir/cache"
  )
  # As root, download as root: the _apt sandbox user cannot enter a cache under
  # root's home (apt would fall back with a warning anyway).
  if [ "$(id -u)" -eq 0 ]; then apt_opts+=(-oAPT::Sandbox::User=root); fi
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  [ "$suite" = bookworm ] && return 0
  apt_opts+=("-oDir::Etc::SourceList=$apt_dir/sources.list" "-oDir::Etc::SourceParts=$apt_dir/sources.list.d")
  mkdir -p "$apt_dir/sources.list.d"
  if [ ! -s "$apt_dir/sources.list" ]; then
    # the archive the host already uses (its bookworm entries), or
    # $MEMHP_DEBIAN_ARCHIVE / $MEMHP_DEBIAN_SECURITY when set
    main="${MEMHP_DEBIAN_ARCHIVE:-$(host_archive_uri bookworm)}"
    sec="${MEMHP_DEBIAN_SECURITY:-$(host_archive_uri bookworm-security)}"
    [ -n "$main" ] || { say "no Debian archive in the host's apt sources (set MEMHP_DEBIAN_ARCHIVE)"; exit 1; }
    {
      echo "deb [signed-by=$key] $main $suite main"
      # unstable has neither -updates nor -security
      if [ "$suite" != sid ] && [ "$suite" != unstable ]; then
        echo "deb [signed-by=$key] $main $suite-updates main"
        [ -z "$sec" ] || echo "deb [signed-by=$key] $sec $suite-security main"
      fi
    } >"$apt_dir/sources.list"
  fi
}

# apt-get update of the lists suite_apt chose (the host's: once per run, with sudo).
suite_apt_update() {
  if [ -z "$apt_dir" ]; then
    apt_update
  else
    say "apt-get update (lists in $apt_dir)"
    apt-get "${apt_opts[@]}" update -qq
  fi
}
suite_has_lists() {
  [ -z "$apt_dir" ] || ls "$apt_dir/lists/"*_Packages* >/dev/null 2>&1
}

# Debian SUITE's cloud kernel for DEBARCH (meta package linux-image-cloud-DEBARCH,
# the versioned image it depends on, and the extra packages named after DEST,
# e.g. busybox-static) downloaded and unpacked (dpkg -x, not installed) into
# DEST. Stale lists (the suite moved on to a newer ABI) get one update.
fetch_kernel() {
  local suite="$1" debarch="$2" dest="$3" image release tmp deb attempt parts extra
  shift 3
  extra=("$@")
  local meta="linux-image-cloud-$debarch"
  for attempt in 1 2; do
    set -- "${extra[@]}"
    suite_apt "$suite" "$debarch"
    if [ "$attempt" -eq 2 ] || ! suite_has_lists; then suite_apt_update; fi
    image="$(apt-cache "${apt_opts[@]}" depends "$meta" 2>/dev/null |
      awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
    [ -n "$image" ] || continue
    release="${image#linux-image-}"
    if [ -f "$dest/boot/vmlinuz-$release" ] && [ -d "$dest/lib/modules/$release" ] &&
      { [ "$#" -eq 0 ] || [ -x "$dest/bin/busybox" ] || [ -x "$dest/usr/bin/busybox" ]; }; then
      say "$suite kernel $release already in $dest"
      return 0
    fi
    # sid splits the image package: vmlinuz in linux-binary-RELEASE, the modules
    # in linux-modules-RELEASE (and linux-base-RELEASE), which the image depends on
    parts="$(apt-cache "${apt_opts[@]}" depends "$image" 2>/dev/null |
      awk -v r="-$release" '$1 == "Depends:" && $2 ~ /^linux-[a-z]+-/ && $2 != "linux-image" r &&
        substr($2, length($2) - length(r) + 1) == r {print $2}' | sort -u)"
    # shellcheck disable=SC2086 # one package name a word
    set -- $parts "$@"
    say "downloading $meta, $image $* ($suite $debarch)"
    tmp="$(mktemp -d)"
    # apt-get download drops to the _apt user, which must be able to write here.
    if [ "$(id -u)" -eq 0 ] && [ -z "$apt_dir" ] && id _apt >/dev/null 2>&1; then chown _apt "$tmp"; else chmod 755 "$tmp"; fi
    if (cd "$tmp" && apt-get "${apt_opts[@]}" download -qq "$meta" "$image" "$@"); then
      mkdir -p "$dest"
      for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$dest"; done
      rm -rf "$tmp"
      # trixie's and sid's packages are merged-/usr (usr/lib/modules) and
      # compress their modules (.ko.xz): give the cache the 6.1 layout, and the
      # modules the guest loads uncompressed (busybox's insmod reads them as they are).
      if [ ! -e "$dest/lib" ] && [ -d "$dest/usr/lib/modules" ]; then ln -s usr/lib "$dest/lib"; fi
      # sid's linux-binary puts vmlinuz, config and System.map beside the
      # modules (lib/modules/RELEASE/): link them where the other releases have them
      for f in vmlinuz config System.map; do
        if [ ! -e "$dest/boot/$f-$release" ] && [ -f "$dest/lib/modules/$release/$f" ]; then
          mkdir -p "$dest/boot"
          ln -s "../lib/modules/$release/$f" "$dest/boot/$f-$release"
        fi
      done
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

# The Debian suite of each release, and the cache folder of its kernel
# (src/oracle/cache.ts kernelRoot()): 6.1 in linux-ARCH, the others in
# linux-VERSION-ARCH.
suite_of() {
  case "$1" in
    6.1) echo bookworm ;;
    6.12) echo trixie ;;
    7.2) echo sid ;;
  esac
}
kernel_dir() {
  if [ "$1" = 6.1 ]; then echo "$cache/linux-$2"; else echo "$cache/linux-$1-$2"; fi
}

# setup VERSION ARCH: the host's QEMU (bookworm's 7.2 boots every release) and
# the release's kernel; arm64 takes a static arm64 busybox from the same suite.
setup() {
  local version="$1" a="$2" suite
  suite="$(suite_of "$version")"
  if [ "$a" = x86_64 ]; then
    install_host_packages qemu-system-x86 busybox-static cpio
    fetch_kernel "$suite" amd64 "$(kernel_dir "$version" x86_64)"
  else
    install_host_packages qemu-system-arm qemu-efi-aarch64
    fetch_kernel "$suite" arm64 "$(kernel_dir "$version" arm64)" busybox-static
  fi
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
  6.1 | 6.12 | 7.2) versions=("$kernels") ;;
  all) versions=(6.1 6.12 7.2) ;;
  *)
    say "unknown kernel $kernels (6.1 | 6.12 | 7.2 | all)"
    exit 2
    ;;
esac
for v in "${versions[@]}"; do
  for a in "${arches[@]}"; do setup "$v" "$a"; done
done
