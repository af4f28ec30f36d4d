#!/usr/bin/env bash
# Reads a guest console log and prints the kernel's complaints in it: what
# the kernel's report functions print when something is wrong. Used by
# linux-patches/selftest.sh on every boot; test/kernel-patches.test.ts holds it
# against saved console excerpts (test/support/console/).
#
# Usage: linux-patches/console-check.sh LOG
# Exit: 0 no complaint, 1 complaints (the first lines of each kind on stdout),
# 2 usage.
#
# What counts, by the function that prints it (Linux 6.1):
#   WARNING:               __warn() (WARN*), and every lockdep report's
#                          header: "possible circular locking dependency",
#                          "inconsistent lock state", "possible recursive
#                          locking", "suspicious RCU usage", "bad unlock
#                          balance", "held lock freed", "lock held when
#                          returning to user space"
#   BUG:                   KASAN and KFENCE reports, bad_page() ("Bad page
#                          state"), "sleeping function called from invalid
#                          context", "scheduling while atomic", soft lockups,
#                          x86 page-fault oopses
#   kernel BUG at          BUG() / BUG_ON() (lib/bug.c report_bug())
#   BUG NAME (..tainted)   SLUB's slab_bug() (no colon after BUG)
#   Oops, Internal error:, general protection fault, Unable to handle kernel,
#   Kernel panic, UBSAN:, list_add/list_del corruption (DEBUG_LIST),
#   Bad rss-counter, Bad page map, INFO: task ... blocked (hung tasks),
#   rcu: INFO: ... stall, and any call trace ("Call Trace:" on x86_64, "Call
#   trace:" on arm64: a clean boot dumps no stack)
#   plus the lockdep report lines named above, in case a report's header line
#   was garbled by concurrent output.
set -euo pipefail

[ $# -eq 1 ] && [ -r "$1" ] || { echo "usage: linux-patches/console-check.sh LOG" >&2; exit 2; }

patterns=(
  'WARNING:'
  'BUG:'
  'kernel BUG at '
  'BUG [^ ]+ \((Not tainted|Tainted: [^)]*)\): '
  'Oops'
  'Internal error: '
  'general protection fault'
  'Unable to handle kernel '
  'Kernel panic'
  'UBSAN: '
  'list_(add|del) corruption'
  'Bad (page state|rss-counter|page map)'
  'INFO: task .* blocked for more than'
  'rcu: INFO: .*(stall|detected)'
  'Call [Tt]race:'
  'possible circular locking'
  'inconsistent lock state'
  'possible recursive locking'
  'suspicious RCU usage'
  'bad unlock balance'
  'held lock freed'
  'lock held when returning to user space'
)
re="$(IFS='|'; echo "${patterns[*]}")"
if grep -aEq "$re" "$1"; then
  grep -aE "$re" "$1" | head -10
  exit 1
fi
exit 0
