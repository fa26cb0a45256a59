#!/usr/bin/env bash
# A sharded `twin simulate` (or `twin trial`) on Slurm: a job array runs the shards (each task's
# index arrives in SLURM_ARRAY_TASK_ID, which `--shards N` reads) and a dependent job merges them.
# Results are byte-identical to one run (cli/tests/shard.rs).
#
# Usage: deploy/slurm-array.sh RESULTS_DIR [SHARDS] [DESIGN.toml]
#   (submits both jobs; `twin` on PATH; with a design, its replicate trials are sharded instead
#   of the neutropenia simulation; give the design as an absolute path or one relative to the
#   directory you submit from, which the merge reads it from)
set -euo pipefail
results="${1:?usage: deploy/slurm-array.sh RESULTS_DIR [SHARDS] [DESIGN.toml]}"
shards="${2:-4}"
design="${3:-}"
mkdir -p "$results"
if [[ -n "$design" ]]; then
    command="twin trial $design"
else
    command="twin simulate --model neutropenia --arm d75=docetaxel-75 --arm d100=docetaxel-100 \
        --patients 10000000 --seed 1 --until 126d --every 1d"
fi
array_job=$(sbatch --parsable --array="0-$((shards - 1))" --cpus-per-task=2 --mem=512M \
    --job-name=twin-shard --output="$results/shard-%a.log" --wrap "
$command --shards $shards --out $results/shard-\$SLURM_ARRAY_TASK_ID")
# afterany: the merge also runs when a shard failed, and then names the missing shard; re-run it
# with `--shard I/$shards` and merge again.
sbatch --dependency="afterany:$array_job" --job-name=twin-merge --output="$results/merge.log" \
    --wrap "twin merge $results/shard-* --out $results/merged"
echo "submitted shards (job $array_job) and the merge"
