#!/usr/bin/env bash
# Reproduces the tables of benches/README.md: throughput ratios (engine vs a hand-written
# Dormand–Prince loop, one thread vs all cores) and peak memory of `twin simulate` for 10,000 and
# 1,000,000 patients, and FOCE-I fit times (pheno, Oral_1CPT).
# Usage: benches/throughput.sh [N_PATIENTS_FOR_THROUGHPUT]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10000}"
cargo build --release -p twin-benches --bin throughput -p twin-cli --quiet
target/release/throughput "$n"

peak_kib() {
    # Peak resident set size of the command, in KiB (GNU time's %M).
    /usr/bin/time -f '%M' -o /tmp/twin-peak.$$ "$@" > /dev/null
    cat /tmp/twin-peak.$$
}
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo
echo "| twin simulate (pk-2cmt-mm, 28 daily doses, hourly output) | patients | peak RSS (MiB) | wall (s) |"
echo "| --- | --- | --- | --- |"
for patients in 10000 1000000; do
    start=$(date +%s.%N)
    kib=$(peak_kib target/release/twin simulate --model pk-2cmt-mm --arm "daily=100 mg q24h x28" \
        --patients "$patients" --seed 1 --every 1h --out "$tmp/sim-$patients")
    end=$(date +%s.%N)
    awk -v p="$patients" -v k="$kib" -v s="$start" -v e="$end" \
        'BEGIN { printf "| all cores | %d | %.1f | %.1f |\n", p, k / 1024, e - s }'
done
echo
echo "| twin simulate (neutropenia, 2 arms, 126 days daily) | patients | peak RSS (MiB) | wall (s) |"
echo "| --- | --- | --- | --- |"
start=$(date +%s.%N)
kib=$(peak_kib target/release/twin simulate --model neutropenia --arm d75=docetaxel-75 --arm d100=docetaxel-100 \
    --patients 10000 --seed 1 --until 126d --every 1d --out "$tmp/neutropenia")
end=$(date +%s.%N)
awk -v p=10000 -v k="$kib" -v s="$start" -v e="$end" \
    'BEGIN { printf "| all cores | %d | %.1f | %.1f |\n", p, k / 1024, e - s }'
echo
echo "| twin fit, FOCE-I | subjects | threads | wall (s) | OFV |"
echo "| --- | --- | --- | --- | --- |"
fit_row() { # label subjects threads twin-fit-arguments...
    local label=$1 subjects=$2 threads=$3
    shift 3
    start=$(date +%s.%N)
    ofv=$(target/release/twin fit "$@" --threads "$threads" --out "$tmp/fit-$threads" |
        sed -n 's/.*OFV \([-0-9.]*\).*/\1/p' | head -1)
    end=$(date +%s.%N)
    awk -v l="$label" -v n="$subjects" -v t="$threads" -v s="$start" -v e="$end" -v o="$ofv" \
        'BEGIN { printf "| %s | %d | %d | %.2f | %s |\n", l, n, t, e - s, o }'
}
for threads in 1 2; do
    fit_row "pheno (real data)" 59 "$threads" --model pheno@1 \
        --data testdata/third_party/nlmixr2data/pheno_sd.csv
done
for threads in 1 2; do
    fit_row "Oral_1CPT (simulated)" 120 "$threads" --model pk-1cmt \
        --data testdata/third_party/nlmixr2data/Oral_1CPT.csv --init CL=3 --init V=90 --init KA=0.7
done
