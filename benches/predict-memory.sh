#!/usr/bin/env bash
# Peak memory and throughput of `twin predict` on generated NONMEM datasets of 1,000 and 10,000
# subjects × 133 records (7 daily oral doses of 100 mg and 126 concentrations over a week, weight
# as a covariate): 133,000 and 1,330,000 rows. `twin predict` reads, predicts and writes one
# subject at a time, so its peak RSS should not grow with the number of subjects.
# Prints a markdown table for benches/README.md.
# Usage: benches/predict-memory.sh [BASELINE_TWIN]   (a second binary to compare, e.g. an older build)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p twin-cli --quiet
twin=target/release/twin
baseline="${1:-}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# dataset N FILE: N subjects, 7 doses (q24h) into the depot and 126 observations every 80 min.
dataset() {
    awk -v n="$1" 'BEGIN {
        print "ID,TIME,AMT,EVID,CMT,DV,WT"
        for (id = 1; id <= n; id++) {
            wt = 50 + (id * 37) % 50
            k = 1
            for (d = 0; d < 7; d++) {
                t_dose = 24 * d
                while (k <= 126 && k * 4 / 3 < t_dose) {
                    printf "%d,%.4f,0,0,2,.,%d\n", id, k * 4 / 3, wt; k++
                }
                printf "%d,%d,100,1,1,.,%d\n", id, t_dose, wt
            }
            for (; k <= 126; k++) printf "%d,%.4f,0,0,2,.,%d\n", id, k * 4 / 3, wt
        }
    }' > "$2"
}

# Runs the command under GNU time; prints "peak_KiB wall_s".
measure() {
    /usr/bin/time -f '%M %e' -o "$tmp/time" "$@" > /dev/null
    cat "$tmp/time"
}

echo "| binary | subjects | rows | peak RSS (MiB) | wall (s) | rows/s |"
echo "| --- | --- | --- | --- | --- | --- |"
for n in 1000 10000; do
    dataset "$n" "$tmp/data-$n.csv"
    rows=$(($(wc -l < "$tmp/data-$n.csv") - 1))
    for bin in "$twin" ${baseline:+"$baseline"}; do
        read -r kib wall < <(measure "$bin" predict --model pk-1cmt --data "$tmp/data-$n.csv" \
            --out "$tmp/pred-$n.csv")
        awk -v b="$bin" -v n="$n" -v r="$rows" -v k="$kib" -v s="$wall" \
            'BEGIN { printf "| %s | %d | %d | %.1f | %.2f | %.0f |\n", b, n, r, k / 1024, s, r / s }'
    done
done
