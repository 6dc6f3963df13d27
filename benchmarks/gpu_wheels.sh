#!/usr/bin/env bash
# Wheels for a GPU box that has PyTorch, torchvision and timm but not mmengine/mmcv, and no internet.
#
#   bash benchmarks/gpu_wheels.sh download [DIR]   # here (with internet): the pure-Python wheels into DIR (.whl)
#   bash benchmarks/gpu_wheels.sh install  [DIR]   # there: unpack them into /tmp/site (no index, no dependencies)
#   PYTHONPATH=/tmp/site:. python3 benchmarks/gpu_report.py --out reports/gpu
#
# The set: mmengine 0.10.7 and mmcv-lite 2.2.0 (openmix imports no mmcv; mmcv-lite is carried for configs that do)
# and the dependencies such a box lacks: addict, termcolor, yapf and yapf's platformdirs. mmengine's other
# requirements (numpy, pyyaml, rich, matplotlib, opencv-python(-headless)) and mmcv-lite's (packaging, Pillow) are
# usual on a PyTorch GPU image; add them to WHEELS if `python3 -c "import yaml, rich, matplotlib, cv2"` fails there.
# All are py3-none-any, so the target Python version only matters for pip's resolution (3.12 below).
set -euo pipefail
WHEELS=(mmengine==0.10.7 mmcv-lite==2.2.0 addict==2.4.0 termcolor==3.3.0 yapf==0.43.0 platformdirs==4.14.8)
DIR=${2:-.whl}
SITE=${SITE:-/tmp/site}
case "${1:-}" in
  download)
    mkdir -p "$DIR"
    python3 -m pip download --no-deps --only-binary=:all: --python-version "${PYVER:-3.12}" --implementation cp \
      --platform any --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d "$DIR" "${WHEELS[@]}"
    ls "$DIR"
    ;;
  install)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$DIR"/*.whl
    PYTHONPATH="$SITE:." python3 -c 'import mmengine, mmcv; print("mmengine", mmengine.__version__, "mmcv", mmcv.__version__)'
    echo "now: export PYTHONPATH=$SITE:."
    ;;
  *)
    sed -n '2,12p' "$0"; exit 2 ;;
esac
