#!/usr/bin/env bash
# The device command of issue 17's GPU suite: one call of at most 10 minutes on the GPU machine.
# Prepare the carry first (bash benchmarks/gpu_carry.sh CLIPS_DIR), then call the device with
#   command:   bash benchmarks/gpu_run.sh
#   carry:     [".whl", "exp/gpu_carry"]
#   timeout_s: 600
# It installs the carried wheels into /tmp/site (the image has no librosa/soundfile and no
# network), names the card, runs benchmarks/gpu_suite.py with the carried references, the
# float16 V1 model directory and the clips, and leaves in $OUT: gpu_suite.json, gpu_suite.md,
# gpu_suite.log, precision_clips.npz (score PESQ here with --pesq-from), nvidia_smi.txt. The
# suite rewrites its JSON/markdown after every section and stops itself at 570 s, so a run cut
# short still returns what it measured. Extra arguments go to gpu_suite.py (e.g. --budget-s).
# Copy the outputs to benchmarks/results/gpu_<card>.{json,md}.
set -uo pipefail
out=${OUT:-/tmp/gpu_suite_out}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site \
  .whl/*.whl || echo "gpu_run: wheel install failed (librosa/soundfile missing?)"
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/nvidia_smi.txt" \
  2>&1 || true
timeout -s INT -k 15 570 python3 benchmarks/gpu_suite.py --out "$out" --budget-s 450 \
  --refs exp/gpu_carry/refs --v1-model exp/gpu_carry/v1_lj --clips exp/gpu_carry/clips "$@" \
  2>&1 | tee "$out/gpu_suite.log"
rc=${PIPESTATUS[0]}
echo "gpu_run: gpu_suite exit code $rc (0: every check passed; 1: a check failed; 124: cut at 570 s)"
exit "$rc"
