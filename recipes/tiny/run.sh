#!/usr/bin/env bash
# Tiny recipe: the whole pipeline on the embedded synthetic corpus, on CPU, in minutes.
#
#   recipes/tiny/run.sh [--stage N] [--stop-stage N] [--out DIR] [--models "hifigan wavegan"]
#                       [--steps N] [--device cpu|cuda] [--overwrite]
#
# Stages: 0 data (synthesise corpora)  1 train  2 synthesize / generate  3 evaluate
# Default models: hifigan melgan multiband_melgan parallel_wavegan istft bigvgan wavegan. Stage 1
# (200 steps each) is the long part: bigvgan's AMP blocks make its steps about twice the others'
# on a CPU, so it adds about half to that stage (--models without bigvgan to skip it).
# Re-running continues each run from its last checkpoint (train --resume; a finished run stays
# as it is, more --steps train on); --overwrite retrains the runs from scratch instead.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
stage=0
stop_stage=3
out=runs/tiny
models="hifigan melgan multiband_melgan parallel_wavegan istft bigvgan wavegan"
steps=""
device=cpu
fresh=--resume

while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage="$2"; shift 2 ;;
    --stop-stage) stop_stage="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --overwrite) fresh=--overwrite; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

mkdir -p "$out"
out="$(cd "$out" && pwd)"
speech="$out/data/speech"
digits="$out/data/digits"

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  echo "== stage 0: synthesise the corpora under $out/data"
  python - "$speech" "$digits" <<'PY'
import sys
from audiogan.data.synthetic import build_synthetic_clips, build_synthetic_corpus
build_synthetic_corpus(sys.argv[1], num_utterances=60, seed=0, valid_fraction=0.1)
build_synthetic_clips(sys.argv[2], num_clips=100, seed=0)
PY
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  for model in $models; do
    echo "== stage 1: train $model"
    args=(--set "training.max_steps=${steps:-$(python -c "import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))['training']['max_steps'])" "$here/$model.yaml")}")
    if [ "$model" = wavegan ]; then
      args+=(--set "data.train=$digits/train.tsv")
    else
      args+=(--set "data.train=$speech/train.tsv" --set "data.valid=$speech/valid.tsv")
    fi
    audiogan train "$here/$model.yaml" -o "$out/$model" --device "$device" "$fresh" "${args[@]}"
  done
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  for model in $models; do
    if [ "$model" = wavegan ]; then
      echo "== stage 2: generate with $model"
      audiogan generate "$out/$model" -n 10 -o "$out/generated/$model"
    else
      echo "== stage 2: copy-synthesise the valid clips with $model"
      audiogan synthesize "$out/$model" "$speech/wavs" -o "$out/synthesized/$model" \
        --device "$device"
    fi
  done
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  vocoders=()
  for model in $models; do [ "$model" = wavegan ] || vocoders+=("$out/$model"); done
  if [ ${#vocoders[@]} -gt 0 ]; then
    echo "== stage 3: evaluate ${vocoders[*]}"
    audiogan evaluate "${vocoders[@]}" --data "$speech/valid.tsv" -o "$out/report"
  fi
fi
echo "done: $out"
