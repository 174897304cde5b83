#!/bin/bash
# Submit a grading array of SHARDS tasks and its merge, which runs once every task has ended
# (afterany: a failed task leaves its submissions without a result, and the merge says which).
#
#   grader/batch/slurm/submit.sh 8 /scratch/graded /scratch/canvas.zip --targets all
#
# Prints the two job ids (array, merge). Extra sbatch options for both jobs: SBATCH_EXTRA
# (e.g. SBATCH_EXTRA="--partition=teaching --account=cs101").
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: submit.sh SHARDS OUT INPUT... [grader grade options]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
shards=$1
shift
out=$1
# shellcheck disable=SC2086
array=$(sbatch --parsable ${SBATCH_EXTRA:-} --array="0-$((shards - 1))" "$here/grade_array.sbatch" "$@")
array=${array%%;*}
# shellcheck disable=SC2086
merge=$(sbatch --parsable ${SBATCH_EXTRA:-} --dependency="afterany:$array" --kill-on-invalid-dep=yes \
    "$here/merge.sbatch" "$out")
echo "$array ${merge%%;*}"
