#!/usr/bin/env bash
# Host access check (issue 17, item 2): code in layers/, models/ and explain/ computes through ops::
# (engine/ops.h, engine/ops_fill.h), which run where the tensors live. Reading or writing tensor memory
# from the host (data<T>(), item(), set_item(), raw_data(), dispatch_float) is allowed there only in
# the places listed in tests/host_access_allowlist.txt, each with its reason: a folder (file formats,
# the command line) or a file with the number of accesses it may hold. A new access elsewhere, or more
# than a file's number, fails with the lines to move into an op (or to list, with a reason).
# Usage: tests/check_host_access.sh [SOURCE_ROOT]   (exit 0: clean, 1: violations)
set -euo pipefail
root=${1:-$(dirname "$0")/..}
cd "$root"
allow=tests/host_access_allowlist.txt
pattern='data<|(\.|->)item\(|set_item\(|raw_data\(|dispatch_float'
[ -f "$allow" ] || { echo "check_host_access: $allow is missing"; exit 1; }

status=0
while IFS= read -r file; do
  count=$(grep -cE "$pattern" "$file" || true)
  [ "$count" -gt 0 ] || continue
  # The longest allowlist entry that is this file or a folder above it.
  entry=$(awk -v f="$file" '!/^#/ && NF >= 3 {
      p = $1; if (f == p || (substr(p, length(p)) == "/" && index(f, p) == 1)) print length(p), $2 }' "$allow" |
    sort -rn | head -1 | cut -d' ' -f2)
  if [ -z "$entry" ]; then
    echo "$file: $count host access(es) outside engine/ and kernels/ (compute through ops::, or list the file in $allow with a reason):"
    grep -nE "$pattern" "$file" | sed 's/^/    /'
    status=1
  elif [ "$entry" != "-" ] && [ "$count" -gt "$entry" ]; then
    echo "$file: $count host accesses, $allow allows $entry (compute the new ones through ops::):"
    grep -nE "$pattern" "$file" | sed 's/^/    /'
    status=1
  elif [ "$entry" != "-" ] && [ "$count" -lt "$entry" ]; then
    echo "note: $file now holds $count host accesses, fewer than the $entry listed: lower its number in $allow"
  fi
done < <(git ls-files 'layers/*.cpp' 'layers/*.h' 'models/*.cpp' 'models/*.h' 'explain/*.cpp' 'explain/*.h' 2>/dev/null ||
         find layers models explain -name '*.cpp' -o -name '*.h')

# Every listed file must exist (a stale entry would hide nothing but mislead).
while read -r path _; do
  case "$path" in '#'* | '') continue ;; esac
  [ -e "$path" ] || { echo "$allow: $path does not exist (remove the entry)"; status=1; }
done < "$allow"

[ "$status" -eq 0 ] && echo "host access check: clean"
exit "$status"
