#!/usr/bin/env bash
# The series' debug kselftests, recorded by the series' hash.
#
#   linux-patches/debug-check.sh [6.1|6.12|7.2] [x86_64|arm64 ...]
#       builds the debug kernels (linux-patches/build.sh ARCH debug VER: lockdep,
#       DEBUG_VM, DEBUG_LIST, KASAN, fault injection), runs their kselftest
#       (linux-patches/selftest.sh: every -ENOMEM path through fail-nth, the
#       console checked for kernel complaints) and, for each arch that passed,
#       writes a line into linux-patches/debug-runs.txt. Default: 7.2, both
#       arches, one after the other (the second build runs beside the first
#       selftest). Consoles are kept in .tmp/debug-check/.
#   linux-patches/debug-check.sh --verify [VER ...]
#       exits 1 unless debug-runs.txt holds a pass of both arches at each
#       version's current hash (linux-patches/build.sh --print-hash VER).
#       Default: 7.2. .ci/run calls this: a change to the patches, the fixes,
#       the config fragments or build.sh makes a new hash, and CI fails until
#       the debug kselftests were run on it.
#
# Why CI does not build the debug kernels itself: the two KASAN/lockdep builds
# take 25 to 35 minutes on a cold two-core host and the arm64 kselftest 15 to
# 35 more under TCG, which does not fit CI's 60-minute budget for a cold run
# beside the normal builds (linux-patches/README.md, "What CI builds").
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
runs="$here/debug-runs.txt"
say() { printf 'linux-patches/debug-check.sh: %s\n' "$*" >&2; }

# A line of debug-runs.txt:
#   VER HASH ARCH RELEASE DATE OK SKIPPED NOT-OK QEMU-SECONDS
# written only for a run that passed (every test ok or skipped, a clean console).
verify() {
  local v h a bad=0 line versions=("$@")
  for v in "${versions[@]}"; do
    h="$(bash "$here/build.sh" --print-hash "$v")"
    for a in arm64 x86_64; do
      line="$(awk -v v="$v" -v h="$h" -v a="$a" '$1 == v && $2 == h && $3 == a' "$runs" 2>/dev/null | tail -1)"
      if [ -n "$line" ]; then
        read -r _ _ _ release date ok skipped notok qemu_s <<<"$line"
        say "$v $a debug at hash $h: passed on $date ($release: $ok ok, $skipped of them skipped, $notok not ok; QEMU $qemu_s s)"
      else
        say "$v $a debug at hash $h: no passing run recorded in linux-patches/debug-runs.txt"
        bad=1
      fi
    done
  done
  if [ "$bad" -ne 0 ]; then
    say "the patches, fixes, config fragments or build.sh changed since the last debug run:"
    say "run linux-patches/debug-check.sh ${versions[*]} (about an hour on two cores) and commit debug-runs.txt"
    return 1
  fi
}

if [ "${1:-}" = --verify ]; then
  shift
  [ $# -gt 0 ] || set -- 7.2
  verify "$@"
  exit
fi

version=7.2
case "${1:-}" in 6.1 | 6.12 | 7.2) version="$1"; shift ;; esac
arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(arm64 x86_64)
for a in "${arches[@]}"; do
  case "$a" in arm64 | x86_64) ;; *) say "unknown architecture '$a'"; exit 2 ;; esac
done
hash="$(bash "$here/build.sh" --print-hash "$version")"
logs="$here/../.tmp/debug-check"
mkdir -p "$logs"

pids=()
for a in "${arches[@]}"; do
  bash "$here/build.sh" "$a" debug "$version"
  MEMHP_SELFTEST_LOG="$logs/console-$version-$a.log" \
    bash "$here/selftest.sh" "$a" debug "$version" >"$logs/selftest-$version-$a.out" 2>&1 &
  pids+=("$!")
done

cache="${MEMHP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/memhp}"
vsuffix=""
[ "$version" = 6.1 ] || vsuffix="-$version"
failed=0
for i in "${!arches[@]}"; do
  a="${arches[$i]}"
  out="$logs/selftest-$version-$a.out"
  if ! wait "${pids[$i]}"; then
    cat "$out"
    say "$version $a debug: FAILED (console: .tmp/debug-check/console-$version-$a.log)"
    failed=1
    continue
  fi
  cat "$out"
  log="$logs/console-$version-$a.log"
  ok="$(grep -ac '^ok ' "$log" || true)"
  skipped="$(grep -ac '^ok .*# SKIP' "$log" || true)"
  notok="$(grep -ac '^not ok ' "$log" || true)"
  qemu_s="$(sed -n 's/^selftest.sh: .* QEMU ran \([0-9]*\) s$/\1/p' "$out")"
  release="$(cat "$cache/linux-patched$vsuffix-$a-debug/release")"
  tmp="$(mktemp)"
  { awk -v v="$version" -v a="$a" '!($1 == v && $3 == a)' "$runs" 2>/dev/null || true
    printf '%s %s %s %s %s %s %s %s %s\n' "$version" "$hash" "$a" "$release" "$(date -u +%F)" \
      "$ok" "$skipped" "$notok" "${qemu_s:-?}"
  } >"$tmp"
  mv "$tmp" "$runs"
  say "$version $a debug: passed; recorded in linux-patches/debug-runs.txt"
done
exit "$failed"
