#!/usr/bin/env bash
# The archive benchmark (issue #24, "How fast, how small"), in one run on this
# machine: generate a month of the grid's tree (gsslog-genmonth), seal it (first
# seal, then an incremental seal of one more day), compare the archive's size
# with xz -9, zstd -19 --long and 7z of the same tree, time searches against
# grep -r and rg on the raw tree and rg -z on a zstd tree (page cache warm and
# dropped), time every `report sshd` view and compare its numbers with the
# generator's own count, and take the peak memory of seal, grep and report.
# Every gsslog grep answer must equal grep's (as the issue defines it): any
# difference fails the run (exit 1) and is listed.
#
#   bash tests/bench-archive.sh [SIZE] [WORKDIR] [JSON]
#
# SIZE: the month's size (K, M, G), default 2G; 50M is a quick check.
# WORKDIR: default /var/tmp/gsslog-bench-archive (emptied first; needs about
# 3.5 times SIZE). JSON: default WORKDIR/bench-archive.json.
# Environment: FORMAT=file|traditional (the lines' timestamps, default file),
# SEED (default 1), COLD=0 (no cold-cache runs; they need root and drop the
# whole machine's page cache), BASELINES=0 (skip xz/zstd/7z: at -9/-19 they
# compress about 1 MB/s per core, so 2 GB takes them hours on a loaded
# 2-core machine), BASELINE_SAMPLE=K (compress every K-th file only and
# estimate the tree's size from that ratio), GSSLOG=path (default: the
# release build).
# Until the gsslog commands exist (they are stubs that exit 2), the gsslog rows
# are skipped with a message and the baselines still run.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
size=${1:-2G}
work=${2:-/var/tmp/gsslog-bench-archive}
json=${3:-$work/bench-archive.json}
format=${FORMAT:-file}
seed=${SEED:-1}
cold=${COLD:-1}
baselines=${BASELINES:-1}
export LC_ALL=C

for tool in jq xz zstd rg /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench-archive: $tool is missing: tests/setup.sh installs it" >&2; exit 2; }
done
sevenz=$(command -v 7zz || command -v 7z || true)
[ -n "$sevenz" ] || { echo "bench-archive: 7zz is missing: tests/setup.sh installs Debian's 7zip" >&2; exit 2; }
if [ "$cold" = 1 ] && ! { [ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/drop_caches ]; }; then
  echo "bench-archive: cold-cache runs need root (echo 3 > /proc/sys/vm/drop_caches); run as root or with COLD=0" >&2
  exit 2
fi

export CARGO_PROFILE_DEV_DEBUG=line-tables-only
cargo build --release --locked --quiet -p gsslog-archive --bins
gen=$repo/target/release/gsslog-genmonth
gsslog=${GSSLOG:-$repo/target/release/gsslog}

rm -rf "$work"
mkdir -p "$work"
root=$work/hosts archive=$work/archive out=$work/out rows=$work/rows.jsonl
mkdir -p "$out"
: > "$rows"
failures=()

# row KIND NAME key=value... : one JSON object per measurement.
row() {
  local kind=$1 name=$2; shift 2
  local args=(--arg kind "$kind" --arg name "$name") fields='{kind: $kind, name: $name'
  local kv
  for kv in "$@"; do
    args+=(--arg "${kv%%=*}" "${kv#*=}")
    fields+=", ${kv%%=*}: (\$${kv%%=*} | tonumber? // .)"
  done
  jq -cn "${args[@]}" "$fields}" >> "$rows"
}

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# timed NAME CMD...: runs CMD with stdout to $out/NAME.out; sets $secs and $rss_mb.
timed() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$out/$name.time" "$@" > "$out/$name.out" 2> "$out/$name.err" || {
    local rc=$?
    # grep's and gsslog grep's 1 means "nothing found".
    [ "$rc" = 1 ] || { echo "bench-archive: $name failed ($rc): $(tail -3 "$out/$name.err")" >&2; return "$rc"; }
  }
  read -r secs rss_kb < <(tail -1 "$out/$name.time")
  rss_mb=$((rss_kb / 1024))
}

bytes_of() { du -sb --apparent-size "$1" | cut -f1; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
rate() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? b / 1048576 / s : 0) }'; }

# --- The month: every day but the last, then (after the first seal) the last.
month=2026-11
last_day=30
echo "bench-archive: generating $size ($format timestamps, seed $seed) in $root"
timed gen-first "$gen" --size "$size" --format "$format" --seed "$seed" --month "$month" --days 1-$((last_day - 1)) --manifest "$work/first.json" "$root"
first_bytes=$(bytes_of "$root")
row gen first secs="$secs" bytes="$first_bytes"

gsslog_ok=1
if ! "$gsslog" stats --archive "$archive" "$root" > "$out/probe.out" 2> "$out/probe.err"; then
  if grep -q "not implemented yet" "$out/probe.err"; then
    gsslog_ok=0
    echo "bench-archive: *** the gsslog commands are stubs on this build (\"$(head -1 "$out/probe.err")\"): every gsslog row is SKIPPED; the baselines run ***"
  fi
fi

if [ "$gsslog_ok" = 1 ]; then
  timed seal-first "$gsslog" seal --archive "$archive" "$root"
  row seal first secs="$secs" bytes="$first_bytes" mb_per_s="$(rate "$first_bytes" "$secs")" max_rss_mb="$rss_mb"
fi
timed gen-last "$gen" --size "$size" --format "$format" --seed "$seed" --month "$month" --days "$last_day-$last_day" --manifest "$work/last.json" "$root"
tree_bytes=$(bytes_of "$root")
day_bytes=$((tree_bytes - first_bytes))
row gen last-day secs="$secs" bytes="$day_bytes"
if [ "$gsslog_ok" = 1 ]; then
  timed seal-day "$gsslog" seal --archive "$archive" "$root"
  row seal incremental-day secs="$secs" bytes="$day_bytes" mb_per_s="$(rate "$day_bytes" "$secs")" max_rss_mb="$rss_mb"
  "$gsslog" stats --archive "$archive" "$root" > "$out/stats.out"
  archive_bytes=$(bytes_of "$archive")
  row size gsslog bytes="$archive_bytes" ratio="$(awk -v t="$tree_bytes" -v a="$archive_bytes" 'BEGIN { printf "%.2f", t / a }')" stats="$(tr '\n' ';' < "$out/stats.out")"
  # Data and index apart, as gsslog stats names them (the first number on its
  # lines that say "data" and "index").
  for part in data index; do
    n=$(grep -i -m1 "$part" "$out/stats.out" | grep -oE '[0-9]+' | head -1 || true)
    [ -z "$n" ] || row size "gsslog $part" bytes="$n"
  done
fi
files=$(find "$root" -type f | wc -l)
lines=$(jq -s 'map(.lines) | add' "$work/first.json" "$work/last.json")
row tree raw bytes="$tree_bytes" files="$files" lines="$lines"

# The generator's own counts for the whole month (both runs).
jq -s '{planted: (map(.planted | to_entries) | add | group_by(.key) | map({key: .[0].key, value: (map(.value.lines) | add)}) | from_entries)}' \
  "$work/first.json" "$work/last.json" > "$work/month.json"
for suffix in remote-results-per-day results-per-day; do
  { head -1 "$work/first.json.$suffix.csv"; tail -q -n +2 "$work/first.json.$suffix.csv" "$work/last.json.$suffix.csv" | sort; } > "$work/expected.$suffix.csv"
done
{ head -1 "$work/first.json.logins.csv"; tail -q -n +2 "$work/first.json.logins.csv" "$work/last.json.logins.csv" | sort; } > "$work/expected.logins.csv"

# --- Sizes: the tree through each general-purpose compressor; with
# BASELINE_SAMPLE=K, every K-th file of the tree only (in path order), and the
# size of the whole tree estimated from the ratio on that sample.
sample=${BASELINE_SAMPLE:-1}
if [ "$baselines" = 1 ]; then
  (cd "$work" && find hosts -type f | sort | awk -v k="$sample" '(NR - 1) % k == 0') > "$work/sample.list"
  sample_bytes=$(cd "$work" && tr '\n' '\0' < sample.list | du -cb --apparent-size --files0-from=- | tail -1 | cut -f1)
  echo "bench-archive: compressing $(mb "$sample_bytes") MB (every ${sample}th file) with xz -9, zstd -19 --long, 7z -mx=9 (slow)"
  compressed() { # NAME FILE SECS
    local b; b=$(bytes_of "$2")
    row size "$1" bytes="$(awk -v b="$b" -v s="$sample_bytes" -v t="$tree_bytes" 'BEGIN { printf "%.0f", b * t / s }')" \
      sample_bytes="$sample_bytes" sample_compressed="$b" secs="$3" estimated="$([ "$sample" = 1 ] && echo no || echo "from every ${sample}th file")"
    rm -f "$2"
  }
  timed xz sh -c "cd '$work' && tar -cf - -T sample.list | xz -9 -T0 > hosts.tar.xz"
  compressed "xz -9" "$work/hosts.tar.xz" "$secs"
  timed zstd19 sh -c "cd '$work' && tar -cf - -T sample.list | zstd -q -19 --long=27 -T0 > hosts.tar.zst"
  compressed "zstd -19 --long" "$work/hosts.tar.zst" "$secs"
  timed 7z sh -c "cd '$work' && '$sevenz' a -bd -mx=9 hosts.7z @sample.list"
  compressed "7z -mx=9" "$work/hosts.7z" "$secs"
else
  echo "bench-archive: BASELINES=0: no xz/zstd/7z sizes"
fi

# A zstd tree (each file compressed on its own) to scan with rg -z.
zroot=$work/hosts-zst
timed zstd-tree sh -c "cd '$root' && find . -type f | while read -r f; do mkdir -p '$zroot'/\"\$(dirname \"\$f\")\"; zstd -q -6 \"\$f\" -o '$zroot'/\"\$f\".zst; done"
row size "zstd -6 per file (scanned tree)" bytes="$(bytes_of "$zroot")"

# --- Searches. Each query: NAME, gsslog's options, the matching grep
# options, and the folders grep reads (for --host), or a --since filter.
host=$(jq -r '.planted.realuser.files | to_entries | map(select(.key | test("^[0-9]{4}/[0-9]{2}/[0-9.]+/"))) | max_by(.value).key | split("/")[2]' "$work/first.json")
since=2026-11-25
queries=(
  "once|-F|qv4hx7jz"
  "twice|-F|mw2pk9tf"
  "realuser|-F|realuser"
  "common-word|-F|Failed"
  "regex|-E|Out of memory: Killed process [0-9]+ \\((python3|java)\\)"
  "ignore-case|-F -i|OUT OF MEMORY"
  "host|-F --host $host|realuser"
  "since|-F --since $since|realuser"
)

# What grep -r prints over the tree, in the order gsslog grep promises.
expected() { # NAME GREPOPTS PATTERN
  local name=$1 opts=$2 pattern=$3 where=('*')
  local gopts
  gopts=$(sed -e 's/--host [^ ]*//' -e 's/--since [^ ]*//' <<< "$opts")
  [[ "$opts" == *--host* ]] && where=("*/*/$host")
  # shellcheck disable=SC2086
  (cd "$root" && grep -r $gopts -e "$pattern" -- ${where[@]}) | sort -t: -k1,1 -s > "$out/expected-$name" || true
  if [[ "$opts" == *--since* ]]; then
    # The line's own day: RSYSLOG_FileFormat's date, or the traditional Mmm dd (month 11).
    awk -v since="$since" '{
      i = index($0, ":"); line = substr($0, i + 1)
      if (line ~ /^[0-9][0-9][0-9][0-9]-/) day = substr(line, 1, 10)
      else day = sprintf("2026-11-%02d", substr(line, 5, 2) + 0)
      if (day >= since) print
    }' "$out/expected-$name" > "$out/expected-$name.since"
    mv "$out/expected-$name.since" "$out/expected-$name"
  fi
}

search() { # CACHE NAME OPTS PATTERN
  local cache=$1 name=$2 opts=$3 pattern=$4 gopts ropts where=('*') tool
  # grep: without gsslog's own options; rg: without -E too (its -E is
  # --encoding; its syntax is extended already), gsslog: ERE unless -F.
  gopts=$(sed -e 's/--host [^ ]*//' -e 's/--since [^ ]*//' <<< "$opts")
  ropts=$(sed -e 's/-E//' <<< "$gopts")
  local sopts; sopts=$(sed -e 's/-E//' <<< "$opts")
  [[ "$opts" == *--host* ]] && where=("*/*/$host")
  for tool in grep rg rg-zstd gsslog; do
    [ "$tool" != gsslog ] || [ "$gsslog_ok" = 1 ] || continue
    # grep and rg have no --since: they scan everything (only gsslog's answer is compared).
    [ "$cache" = cold ] && drop_caches
    case $tool in
      # shellcheck disable=SC2086
      grep) (cd "$root" && timed "$cache-$name-grep" grep -r $gopts -e "$pattern" -- ${where[@]}) ;;
      # shellcheck disable=SC2086
      rg) (cd "$root" && timed "$cache-$name-rg" rg -uuu --no-heading -N $ropts -e "$pattern" -- ${where[@]}) ;;
      # shellcheck disable=SC2086
      rg-zstd) (cd "$zroot" && timed "$cache-$name-rg-zstd" rg -z -uuu --no-heading -N $ropts -e "$pattern" -- ${where[@]}) ;;
      # shellcheck disable=SC2086
      gsslog) timed "$cache-$name-gsslog" "$gsslog" grep --archive "$archive" $sopts -- "$pattern" "$root" ;;
    esac
    read -r secs rss_kb < <(tail -1 "$out/$cache-$name-$tool.time")
    local matches; matches=$(wc -l < "$out/$cache-$name-$tool.out")
    local same=""
    if [ "$tool" = gsslog ]; then
      if cmp -s "$out/expected-$name" "$out/$cache-$name-gsslog.out"; then same=yes; else
        same=NO; failures+=("grep $name ($cache): gsslog's answer differs from grep's: diff $out/expected-$name $out/$cache-$name-gsslog.out")
      fi
    fi
    row search "$name" cache="$cache" tool="$tool" secs="$secs" max_rss_mb="$((rss_kb / 1024))" lines="$matches" identical="$same"
  done
}

for q in "${queries[@]}"; do
  IFS='|' read -r name opts pattern <<< "$q"
  expected "$name" "$opts" "$pattern"
done
# Warm: everything read once first. Cold: the page cache dropped before each run.
for cache in warm $([ "$cold" = 1 ] && echo cold); do
  [ "$cache" = cold ] || find "$root" "$zroot" "$archive" -type f -exec cat {} + > /dev/null 2>&1 || true
  for q in "${queries[@]}"; do
    IFS='|' read -r name opts pattern <<< "$q"
    echo "bench-archive: search $name ($cache)"
    search "$cache" "$name" "$opts" "$pattern"
  done
done
# The planted counts against grep's own.
for token in qv4hx7jz mw2pk9tf realuser; do
  want=$(jq -r ".planted.$token" "$work/month.json")
  got=$(cd "$root" && grep -r -F -c "$token" -- * | awk -F: '{ n += $NF } END { print n + 0 }')
  [ "$want" = "$got" ] || failures+=("planted $token: the generator says $want lines, grep -r finds $got")
  row planted "$token" lines="$got"
done

# --- report sshd: every view, timed, against the generator's own count.
if [ "$gsslog_ok" = 1 ]; then
  report() { # NAME ARGS...
    local name=$1; shift
    timed "report-$name" "$gsslog" report sshd --archive "$archive" --format csv "$@" "$root"
    row report "$name" secs="$secs" max_rss_mb="$rss_mb" rows="$(($(wc -l < "$out/report-$name.out") - 1))"
  }
  # A CSV with its first column (a day or a time) reduced to its digits, to the
  # second (YYYYMMDDhhmmss), so that the comparison is of the numbers, not of
  # how the time is written; sorted below its header.
  normal() { head -1 "$1"; tail -n +2 "$1" | awk -F, -v OFS=, '{ t = $1; gsub(/[^0-9]/, "", t); $1 = substr(t, 1, 14); print }' | sort; }
  compare() { # NAME EXPECTED-CSV
    if ! diff <(normal "$2") <(normal "$out/report-$1.out") > "$out/report-$1.diff"; then
      failures+=("report $1: differs from the generator's count: $out/report-$1.diff")
    fi
  }
  report remote-results-per-day remote-results-per-day
  compare remote-results-per-day "$work/expected.remote-results-per-day.csv"
  report logins logins
  compare logins "$work/expected.logins.csv"
  report profile-day profile --by day
  compare profile-day "$work/expected.results-per-day.csv"
  report profile-hour profile --by hour
  report top-remote-failed top --by remote --result Failed --limit 20
  # Each listed remote's count, as the generator counted its failures.
  awk -F, 'NR > 1 && $3 == "Failed" { n[$2] += $4 } END { for (r in n) print r "," n[r] }' "$work/expected.remote-results-per-day.csv" | sort > "$out/failed-by-remote"
  if tail -n +2 "$out/report-top-remote-failed.out" | sort | join -t, -v1 - "$out/failed-by-remote" | grep -q .; then
    failures+=("report top --by remote --result Failed: a count differs from the generator's ($out/report-top-remote-failed.out)")
  fi
  report top-user top --by user
  report top-method top --by method
  report top-host top --by host
  # A watchlist: the ten busiest attackers and the frontends' /24.
  { echo "# the bench's watchlist"; head -10 "$out/failed-by-remote" | cut -d, -f1; echo "10.43.0.0/24"; } > "$work/watchlist"
  report watchlist watchlist --watchlist "bench=$work/watchlist"
  want=$(awk -F, 'NR > 1 && $5 ~ /^10\.43\.0\./' "$work/expected.logins.csv" | wc -l)
  got=$(($(wc -l < "$out/report-watchlist.out") - 1))
  [ "$want" = "$got" ] || failures+=("report watchlist: $got logins listed, the generator made $want from 10.43.0.0/24")
  timed report-html "$gsslog" report sshd --archive "$archive" --format html "$root"
  row report html secs="$secs" max_rss_mb="$rss_mb" bytes="$(wc -c < "$out/report-html.out")"
fi

# --- The table, the extrapolation, the JSON.
jq -s --arg size "$size" --arg format "$format" --argjson tree "$tree_bytes" --argjson failures "$(printf '%s\n' "${failures[@]+"${failures[@]}"}" | jq -R . | jq -s 'map(select(. != ""))')" \
  '{size: $size, format: $format, tree_bytes: $tree, rows: ., failures: $failures,
    machine: {cores: '"$(nproc)"', load: "'"$(cut -d' ' -f1-3 /proc/loadavg)"'"}}' "$rows" > "$json"

echo
echo "== gsslog archive benchmark: $(mb "$tree_bytes") MB month ($files files, $lines lines, $format timestamps), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
jq -r --argjson tree "$tree_bytes" '
  def r(x): (x * 100 | round) / 100;
  (.rows[] | select(.kind == "seal") | "seal \(.name): \(r(.secs)) s, \(.mb_per_s) MB/s, max RSS \(.max_rss_mb) MB"),
  "sizes (ratio = raw / size):",
  (.rows[] | select(.kind == "size") | "  \(.name): \(.bytes) bytes, ratio \(r($tree / .bytes))"),
  ((.rows | map(select(.kind == "size")) | map({(.name): .bytes}) | add // {}) as $s |
    if $s.gsslog and $s["xz -9"] then "  gsslog archive / xz -9: \(r($s.gsslog / $s["xz -9"])) (goal: <= 1, stretch 0.7)" else empty end),
  "searches (seconds; lines; gsslog identical to grep):",
  (.rows | map(select(.kind == "search")) | group_by(.name + " " + .cache)[] |
    "  \(.[0].name) \(.[0].cache): " + (map("\(.tool) \(r(.secs))") | join(", ")) + "; \(.[0].lines) lines" +
    (map(select(.tool == "gsslog") | " identical=\(.identical)") | join("")) +
    ((map({(.tool): .secs}) | add) as $t | if $t.gsslog then
      " | gsslog \(r($t.grep / ([$t.gsslog, 0.001] | max)))x faster than grep, \(r($t.rg / ([$t.gsslog, 0.001] | max)))x than rg" else "" end)),
  (.rows[] | select(.kind == "report") | "report \(.name): \(r(.secs)) s, max RSS \(.max_rss_mb) MB"),
  (.rows[] | select(.kind == "planted") | "planted \(.name): \(.lines) lines")' "$json"

# The seed month: 105 GB, grep -R in 18.6 min off a 94 MB/s disk.
jq -r --argjson tree "$tree_bytes" '
  def r(x): (x * 10 | round) / 10;
  (105 * 1073741824 / $tree) as $k |
  "extrapolated to the seed'\''s 105 GB month (x\(r($k)), linear in size):",
  (.rows[] | select(.kind == "seal" and .name == "first") | "  first seal: \(r(.secs * $k / 60)) min"),
  (.rows[] | select(.kind == "size") | "  \(.name): \(r(.bytes * $k / 1073741824)) GB (synthetic data; the grid reports 25-50x on its real month)"),
  (.rows[] | select(.kind == "search" and .name == "realuser") | "  realuser, \(.cache), \(.tool): \(r(.secs * $k)) s"),
  "  (the grid measured: grep -R 18.6 min off its 94 MB/s disk; 35 s on an 8-node Elasticsearch after 4 h of loading)"' "$json"
echo "JSON: $json"

if [ ${#failures[@]} -gt 0 ]; then
  echo
  echo "bench-archive: FAILED:" >&2
  printf '  %s\n' "${failures[@]}" >&2
  exit 1
fi
[ "$gsslog_ok" = 1 ] || echo "bench-archive: the gsslog rows were SKIPPED (commands not implemented on this build)"
