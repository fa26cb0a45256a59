#!/usr/bin/env bash
# A sharded `twin simulate` on Slurm: a job array runs the shards (each task's index arrives in
# SLURM_ARRAY_TASK_ID, which `twin simulate --shards N` reads) and a dependent job merges them.
# Results are byte-identical to one run (cli/tests/shard.rs).
#
# Usage: deploy/slurm-array.sh RESULTS_DIR [SHARDS]   (submits both jobs; `twin` on PATH)
set -euo pipefail
results="${1:?usage: deploy/slurm-array.sh RESULTS_DIR [SHARDS]}"
shards="${2:-4}"
mkdir -p "$results"
array_job=$(sbatch --parsable --array="0-$((shards - 1))" --cpus-per-task=2 --mem=512M \
    --job-name=twin-shard --output="$results/shard-%a.log" --wrap "
twin simulate --model neutropenia --arm d75=docetaxel-75 --arm d100=docetaxel-100 \
    --patients 10000000 --seed 1 --until 126d --every 1d \
    --shards $shards --out $results/shard-\$SLURM_ARRAY_TASK_ID")
# afterany: the merge also runs when a shard failed, and then names the missing shard; re-run it
# with `twin simulate ... --shard I/$shards` and merge again.
sbatch --dependency="afterany:$array_job" --job-name=twin-merge --output="$results/merge.log" \
    --wrap "twin merge $results/shard-* --out $results/merged"
echo "submitted shards (job $array_job) and the merge"
