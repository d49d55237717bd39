#!/usr/bin/env bash
# The prepared GPU check (issue 7 §6), for an offline GPU host reached through the device tool. Here,
# in the project root, after `npm ci`: `bash ../shared/gpu/pack.sh --cuda` (see ../shared/gpu/README.md),
# then on the host: three commands copying .gpu-cuda-1..3 into /tmp/gpu-stash, and
#
#   bash tools/gpu-check.sh [--items cuda,train,webgpu,graph] [--presets tiny,r18,r50] [--steps 10] [--budget 540]
#
# carrying .gpu and dist. It benches tiny, r18 and r50 on cuda (fp32 and TF32) and webgpu against
# the host's PyTorch on the same card, runs 20 tiny steps on cpu, cuda and webgpu from one bundle and
# compares them, and prints one table (tools/gpu-check.ts).
set -u
cd "$(dirname "$0")/.."
[ -f .gpu/activate.sh ] || { echo "gpu-check: .gpu/activate.sh is missing; run ../shared/gpu/pack.sh --cuda here and carry .gpu" >&2; exit 1; }
[ -f dist/tools/gpu-check.js ] || { echo "gpu-check: dist/ is missing; run npm ci (it compiles) and carry dist" >&2; exit 1; }
# shellcheck disable=SC1091
source .gpu/activate.sh
# The host's PyTorch (with CUDA) is the reference; Debian's CPU-only one is not.
py=""
for c in python3 /usr/bin/python3 /opt/conda/bin/python; do
  if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then py=$(command -v "$c"); break; fi
done
[ -n "$py" ] || echo "gpu-check: no Python with a CUDA PyTorch found; the PyTorch columns will say so" >&2
export TORCH_PYTHON="${py:-python3}"
exec node dist/tools/gpu-check.js "$@"
