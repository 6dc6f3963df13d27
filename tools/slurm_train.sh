#!/usr/bin/env bash
# Train under SLURM: tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py options]
# GPUS (total, default 8), GPUS_PER_NODE (default 8), CPUS_PER_TASK (default 5), SRUN_ARGS are read from the env.
#
# Preemption and time limits: srun asks SLURM to send SIGUSR1 to every task SIGNAL_BEFORE seconds (default 120)
# before the time limit. train.py then finishes the step, writes epoch_E_iter_I.pth, points last_checkpoint at it and
# exits with 75 (PREEMPTED_EXIT_CODE; SIGTERM from a preempting scheduler does the same).
#  * Inside a batch job (sbatch --requeue [--time=...] tools/slurm_train.sh PARTITION JOB_NAME CONFIG ...) the job
#    is requeued (scontrol requeue); the requeued run (SLURM_RESTART_COUNT > 0) adds --resume and continues inside
#    the epoch where it stopped.
#  * Run from a login node (srun makes the allocation), the script says how to resume.
# Any other exit status is returned as it is (no requeue on errors).
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
SIGNAL_BEFORE=${SIGNAL_BEFORE:-120}
PREEMPTED_EXIT_CODE=75  # openmix.engine.preemption.PREEMPTED_EXIT_CODE
DIR=$(cd "$(dirname "$0")/.." && pwd)

RESUME=()
if [[ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]]; then
    RESUME=(--resume)  # a requeued job continues from last_checkpoint
    echo "slurm_train.sh: restart ${SLURM_RESTART_COUNT} of job ${SLURM_JOB_ID:-?}: resuming" >&2
fi

# SIGTERM to the batch shell (scancel, preemption) must not end it before srun returns: a trap (not an ignore, which
# srun would inherit) lets bash wait for srun, whose tasks get the signal too, write their checkpoint and exit 75
trap 'echo "slurm_train.sh: signal received; waiting for train.py to write its checkpoint" >&2' TERM USR1
rc=0
PYTHONPATH="$DIR:${PYTHONPATH:-}" srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 \
    --signal=USR1@"$SIGNAL_BEFORE" \
    $SRUN_ARGS python -u "$DIR/tools/train.py" "$CONFIG" --launcher slurm ${RESUME[@]+"${RESUME[@]}"} "$@" || rc=$?

if [[ $rc -eq $PREEMPTED_EXIT_CODE ]]; then
    if [[ -n "${SLURM_JOB_ID:-}" ]]; then
        echo "slurm_train.sh: preempted; checkpoint written; requeueing job $SLURM_JOB_ID" >&2
        scontrol requeue "$SLURM_JOB_ID"
    else
        echo "slurm_train.sh: preempted; checkpoint written. Continue with:" >&2
        echo "  $0 $PARTITION $JOB_NAME $CONFIG $* --resume" >&2
    fi
fi
exit "$rc"
