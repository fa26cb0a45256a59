#!/usr/bin/env bash
# Peak memory per process of a neutropenia simulation (benches/README.md §Sharded runs: peak memory
# per process; target: at most 1.5× the 10,000-patient run): 10,000 and 1,000,000 patients in one
# process, and 10,000,000 patients as 10 shards of 1,000,000 (run one after another on this machine,
# as a Slurm array or Kubernetes Indexed Job would run them on many) followed by `twin merge`.
# Workload: docetaxel 75 vs 100 mg/m² (the model's built-in therapies), first 3-week cycle,
# daily output (the model's own events: grade 3, grade 4, recovery). Prints a markdown table for
# benches/README.md.
# Usage: benches/sharded-memory.sh [SHARDS]   (default 10; 10,000,000 patients in all)
set -euo pipefail
cd "$(dirname "$0")/.."
shards="${1:-10}"
cargo build --release -p twin-cli --quiet
twin=target/release/twin
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Runs the command under GNU time; prints "peak_KiB wall_s".
measure() {
    /usr/bin/time -f '%M %e' -o "$tmp/time" "$@" > /dev/null
    cat "$tmp/time"
}
simulate=("$twin" simulate --model neutropenia --arm d75=docetaxel-75 --arm d100=docetaxel-100
    --seed 1 --until 21d --every 1d)
row() { # label patients peak_KiB wall_s
    awk -v l="$1" -v p="$2" -v k="$3" -v s="$4" \
        'BEGIN { printf "| %s | %d | %.1f | %.1f |\n", l, p, k / 1024, s }'
}

echo "| process | patients | peak RSS (MiB) | wall (s) |"
echo "| --- | --- | --- | --- |"
read -r base_kib wall < <(measure "${simulate[@]}" --patients 10000 --out "$tmp/single-10k")
row "one process" 10000 "$base_kib" "$wall"
read -r kib wall < <(measure "${simulate[@]}" --patients 1000000 --out "$tmp/single-1m")
row "one process" 1000000 "$kib" "$wall"
single_1m_kib=$kib

total=$((shards * 1000000))
worst_shard_kib=0
shard_wall=0
for ((i = 0; i < shards; i++)); do
    read -r kib wall < <(measure "${simulate[@]}" --patients "$total" --shard "$i/$shards" --out "$tmp/shard-$i")
    row "shard $i/$shards" $((total / shards)) "$kib" "$wall"
    ((kib > worst_shard_kib)) && worst_shard_kib=$kib
    shard_wall=$(awk -v a="$shard_wall" -v b="$wall" 'BEGIN { print a + b }')
done
read -r merge_kib wall < <(measure "$twin" merge --out "$tmp/merged" "$tmp"/shard-*)
row "twin merge of $shards shards" "$total" "$merge_kib" "$wall"
echo
awk -v b="$base_kib" -v s="$single_1m_kib" -v w="$worst_shard_kib" -v m="$merge_kib" -v t="$shard_wall" \
    'BEGIN { printf "ratios to 10,000 patients: 1M one process %.2f×, worst shard %.2f×, merge %.2f× (target ≤ 1.5×); shards %.0f s in all\n", s / b, w / b, m / b, t }'
grep -E ',grade4,' "$tmp/merged/events.csv" | cut -d, -f1,2,4-6
