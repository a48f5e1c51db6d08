#!/usr/bin/env bash
# SC09 (the ten digits of Speech Commands v0.02: one-second 16 kHz clips, zero-padded to
# 16384 samples): an unconditional (or class-conditional) WaveGAN. Run from the repo root:
#
#   recipes/sc09/run.sh                                      # WaveGAN, unconditional
#   recipes/sc09/run.sh --conditional                        # one class per digit
#
# Config here: wavegan.yaml. Data: data/sc09 (2.3 GB archive, all 35 words unpacked; the digit
# clips are written padded to data/sc09/manifests/audio_16000); runs: exp/sc09/wavegan.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
corpus=sc09
default_config=wavegan.yaml
kind=wavegan
args=()
for arg in "$@"; do
  if [ "$arg" = --conditional ]; then
    args+=(--set generator.params.num_classes=10 --set discriminator.params.num_classes=10
           --set "data.labels=[zero, one, two, three, four, five, six, seven, eight, nine]")
  else
    args+=("$arg")
  fi
done
set -- ${args[@]+"${args[@]}"}
# shellcheck source=../common.sh
. "$here/../common.sh"
recipe_main "$@"
