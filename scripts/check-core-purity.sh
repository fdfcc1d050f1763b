#!/usr/bin/env bash
# Fails if anything under src/core uses IO, clocks, randomness, threads, async or a
# hash-ordered collection (DESIGN.md §2). Comment lines are ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='\b(tokio|async|await|std::time|std::fs|std::net|std::thread|std::io|rand|HashMap|HashSet|Instant|SystemTime|println!|eprintln!)\b'
hits=$(grep -rnE "$pattern" src/core --include='*.rs' | grep -vE '^[^:]+:[0-9]+:\s*//' || true)
# `std::net::Ipv6Addr` is used only as a pure parser for IPv6 literals in peer ids.
hits=$(printf '%s\n' "$hits" | grep -v 'std::net::Ipv6Addr' | sed '/^$/d' || true)
if [ -n "$hits" ]; then
  echo "core purity check FAILED: src/core must not use IO, clocks, randomness, threads,"
  echo "async or HashMap/HashSet (DESIGN.md §2). Offending lines:"
  echo "$hits"
  exit 1
fi
echo "core purity check passed"
