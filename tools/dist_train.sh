#!/usr/bin/env bash
# Train on NGPUS processes of this node with torchrun: tools/dist_train.sh CONFIG NGPUS [train.py options]
# Several nodes: NNODES=2 NODE_RANK=0 MASTER_ADDR=host0 tools/dist_train.sh CONFIG 8 ...
# Without GPUs the processes run on CPU with the gloo backend.
set -euo pipefail
CONFIG=$1
NGPUS=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
DIR=$(cd "$(dirname "$0")/.." && pwd)
PYTHONPATH="$DIR:${PYTHONPATH:-}" exec python -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" --master_port="$PORT" \
    --nproc_per_node="$NGPUS" "$DIR/tools/train.py" "$CONFIG" --launcher pytorch "$@"
