# Stage logic shared by recipes/<corpus>/run.sh (sourced, not run).
#
# The sourcing script sets:
#   here            its directory
#   corpus          the `audiogan prepare` corpus name
#   default_config  a YAML in $here
#   kind            vocoder (synthesize = copy synthesis of test clips) or wavegan (generate)
# and calls:  recipe_main "$@"
#
# Stages: 0 download (+ verify, unpack)  1 prepare (manifests)  2 train  3 synthesize
#         (vocoders: copy synthesis of test clips; WaveGAN: generate)  4 evaluate (WaveGAN:
#         after training the digit classifier that scores it)
# Options (all optional):
#   --stage N --stop-stage N     run stages N..M (default 0..4)
#   --root DIR                   corpus directory (default data/<corpus>); manifests in DIR/manifests
#   --out DIR                    experiments (default exp/<corpus>); the run is DIR/<config name>
#   --config FILE                a YAML in the recipe directory or a path (default: see run.sh)
#   --set KEY=VALUE              training override, repeatable (e.g. training.batch_size=32)
#   --overwrite                  retrain from scratch in stage 2 (default: continue the run in
#                                DIR/<config name> from its last checkpoint, or start it)
#   --device cpu|cuda            training/inference device (default: cuda when available)
#   --mirror URL                 download from another host with the same file names
#   --archive FILE               an archive you already have (repeatable)
#   --no-verify                  skip the checksum check (a mirror with another release)
#   --mic mic1|mic2              VCTK microphone
#   --subset NAMES               LibriTTS subsets, comma-separated
#   --jobs N                     prepare worker processes
#   --num-synth N                clips to synthesise or generate in stage 3 (default 20)

recipe_usage() {
  sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  sed -n '/^# Stages/,/^$/p' "$here/../common.sh" | sed 's/^# \{0,1\}//'
}

recipe_main() {
  local stage=0 stop_stage=4 root="data/$corpus" out="exp/$corpus"
  local config="$here/$default_config" device="" jobs="" num_synth=20
  local fresh=--resume
  local -a sets=() fetch=() extra=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --stage) stage="$2"; shift 2 ;;
      --stop-stage) stop_stage="$2"; shift 2 ;;
      --root) root="$2"; shift 2 ;;
      --out) out="$2"; shift 2 ;;
      --config) config="$2"; shift 2 ;;
      --set) sets+=(--set "$2"); shift 2 ;;
      --overwrite) fresh=--overwrite; shift ;;
      --device) device="$2"; shift 2 ;;
      --mirror|--archive) fetch+=("$1" "$2"); shift 2 ;;
      --no-verify) fetch+=(--no-verify); shift ;;
      --mic|--subset) extra+=("$1" "$2"); shift 2 ;;
      --jobs) jobs="$2"; shift 2 ;;
      --num-synth) num_synth="$2"; shift 2 ;;
      -h|--help) recipe_usage; exit 0 ;;
      *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
  done
  if [ ! -f "$config" ] && [ -f "$here/$config" ]; then config="$here/$config"; fi
  if [ ! -f "$config" ]; then echo "run.sh: config $config not found" >&2; exit 2; fi
  if ! command -v audiogan >/dev/null 2>&1; then
    echo "run.sh: the audiogan command is not on PATH (pip install -e . first)" >&2; exit 2
  fi
  local sample_rate name data exp
  sample_rate="$(awk '/^sample_rate:/ {print $2; exit}' "$config")"
  name="$(basename "$config" .yaml)"
  data="$root/manifests"
  exp="$out/$name"
  local -a dev=()
  if [ -n "$device" ]; then dev=(--device "$device"); fi
  local -a par=()
  if [ -n "$jobs" ]; then par=(--jobs "$jobs"); fi

  if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ] && [ "$corpus" = folder ]; then
    echo "== stage 0: nothing to download (your audio files are under $root)"
    if [ ! -d "$root" ]; then echo "run.sh: $root is not a directory (set --root)" >&2; exit 2; fi
  elif [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
    echo "== stage 0: download, verify and unpack $corpus under $root"
    audiogan prepare "$corpus" --root "$root" --download-only \
      ${fetch[@]+"${fetch[@]}"} ${extra[@]+"${extra[@]}"}
  fi

  if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
    echo "== stage 1: manifests at ${sample_rate} Hz in $data"
    local rc=0  # exit 1: some files were left out, the manifests are written
    audiogan prepare "$corpus" --root "$root" --sample-rate "$sample_rate" \
      ${fetch[@]+"${fetch[@]}"} ${extra[@]+"${extra[@]}"} ${par[@]+"${par[@]}"} || rc=$?
    if [ "$rc" -eq 1 ]; then
      echo "run.sh: going on without the files left out (reasons in $data/rejected.tsv)" >&2
    elif [ "$rc" -ne 0 ]; then
      exit "$rc"
    fi
  fi

  if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
    echo "== stage 2: train $name into $exp"
    audiogan train "$config" -o "$exp" "$fresh" \
      --set "data.train=$data/train.tsv" --set "data.valid=$data/valid.tsv" \
      ${sets[@]+"${sets[@]}"} ${dev[@]+"${dev[@]}"}
  fi

  if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
    if [ "$kind" = wavegan ]; then
      echo "== stage 3: generate $num_synth clips into $exp/generated"
      audiogan generate "$exp" -n "$num_synth" -o "$exp/generated"
    else
      local -a clips=()
      mapfile -t clips < <(awk -F'\t' -v d="$data" -v n="$num_synth" \
        'NR > 1 && NR <= n + 1 { p = $1; if (substr(p, 1, 1) != "/") p = d "/" p; print p }' \
        "$data/test.tsv")
      echo "== stage 3: copy-synthesise ${#clips[@]} test clips into $exp/synthesized"
      audiogan synthesize "$exp" "${clips[@]}" -o "$exp/synthesized" ${dev[@]+"${dev[@]}"}
    fi
  fi

  if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
    local -a scoring=()
    if [ "$kind" = wavegan ]; then
      # inception score / Frechet distance need a word classifier trained on the real clips
      local classifier="$out/classifier/classifier.safetensors"
      if [ ! -f "$classifier" ]; then
        echo "== stage 4: train the digit classifier into $out/classifier"
        mkdir -p "$out/classifier"
        audiogan train-classifier "$data/train.tsv" --held-back "$data/valid.tsv" \
          -o "$out/classifier" ${dev[@]+"${dev[@]}"}
      fi
      scoring=(--classifier "$classifier")
    fi
    echo "== stage 4: evaluate $exp on $data/test.tsv into $exp/eval"
    audiogan evaluate "$exp" --data "$data/test.tsv" -o "$exp/eval" \
      ${scoring[@]+"${scoring[@]}"} ${dev[@]+"${dev[@]}"}
  fi
  echo "run.sh: done (stages $stage..$stop_stage); run directory: $exp"
}
