#!/usr/bin/env bash
# Host access check (issue 17, item 2): code in layers/, models/ and explain/ computes through ops::
# (engine/ops.h, engine/ops_fill.h, engine/ops_optim.h), which run where the tensors live. Reading or
# writing tensor memory from the host (data<T>(), item(), set_item(), raw_data(), dispatch_float) is
# allowed there only in the places listed in tests/host_access_allowlist.txt, each with its reason: a
# folder (file formats, the command line) or a file with the number of accesses it may hold. A new
# access elsewhere, or more than a file's number, fails with the lines to move into an op (or to list,
# with a reason). One grep and one awk over all files: fast on a loaded machine.
# Usage: tests/check_host_access.sh [SOURCE_ROOT]   (exit 0: clean, 1: violations)
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
allow=tests/host_access_allowlist.txt
pattern='data<|(\.|->)item\(|set_item\(|raw_data\(|dispatch_float'
[ -f "$allow" ] || { echo "check_host_access: $allow is missing"; exit 1; }

if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  mapfile -t files < <(git ls-files 'layers/*.cpp' 'layers/*.h' 'models/*.cpp' 'models/*.h' 'explain/*.cpp' 'explain/*.h')
else
  mapfile -t files < <(find layers models explain -name '*.cpp' -o -name '*.h' | sort)
fi

# "file count" for every file with an access, then the verdicts: "bad FILE" lines name files to show.
verdicts=$(grep -cE "$pattern" "${files[@]}" | awk -F: -v allow="$allow" '
  BEGIN {
    while ((getline line < allow) > 0) {
      if (line ~ /^#/ || line ~ /^[[:space:]]*$/) continue
      split(line, f, /[[:space:]]+/)
      max[f[1]] = f[2]
    }
  }
  $2 > 0 {
    file = $1; count = $2; best = ""; len = 0
    for (p in max)
      if ((file == p || (substr(p, length(p)) == "/" && index(file, p) == 1)) && length(p) > len) { best = p; len = length(p) }
    if (best == "") {
      print "msg " file ": " count " host access(es) outside engine/ and kernels/ (compute through ops::, or list the file in " allow " with a reason):"
      print "show " file; bad = 1
    } else if (max[best] != "-" && count + 0 > max[best] + 0) {
      print "msg " file ": " count " host accesses, " allow " allows " max[best] " (compute the new ones through ops::):"
      print "show " file; bad = 1
    } else if (max[best] != "-" && count + 0 < max[best] + 0) {
      print "msg note: " file " now holds " count " host accesses, fewer than the " max[best] " listed: lower its number in " allow
    }
  }
  END { print(bad ? "status 1" : "status 0") }')

status=0
# Every listed path must exist (a stale entry hides nothing but misleads).
while read -r path _; do
  case "$path" in '#'* | '') continue ;; esac
  [ -e "$path" ] || { echo "$allow: $path does not exist (remove the entry)"; status=1; }
done < "$allow"
while IFS= read -r line; do
  case "$line" in
    "msg "*) echo "${line#msg }" ;;
    "show "*) grep -nE "$pattern" "${line#show }" | sed 's/^/    /' ;;
    "status 1") status=1 ;;
  esac
done <<< "$verdicts"
[ "$status" -eq 0 ] && echo "host access check: clean"
exit "$status"
