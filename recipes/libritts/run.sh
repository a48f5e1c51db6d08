#!/usr/bin/env bash
# LibriTTS (24 kHz, train-clean-100 by default; --subset train-clean-100,train-clean-360 for
# more), or LibriTTS-R with --corpus-r: a multi-speaker vocoder with unseen test speakers.
# Run from the repository root:
#
#   recipes/libritts/run.sh                                  # HiFi-GAN V1 at 24 kHz
#   recipes/libritts/run.sh --config istft.yaml --subset train-clean-100,train-clean-360
#   recipes/libritts/run.sh --config bigvgan_v2_24k.yaml     # BigVGAN-v2, 24 kHz
#
# Configs here: hifigan_v1 (default, 24 kHz, 100 mels), istft (Vocos' LibriTTS setting),
# bigvgan_v2_24k (NVIDIA's 24khz_100band_256x).
# Data: data/libritts (7.7 GB for train-clean-100, 27 GB more for train-clean-360);
# runs: exp/libritts/<config>.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
corpus=libritts
args=()
for arg in "$@"; do
  if [ "$arg" = --corpus-r ]; then corpus=libritts-r; else args+=("$arg"); fi
done
set -- ${args[@]+"${args[@]}"}
default_config=hifigan_v1.yaml
kind=vocoder
# shellcheck source=../common.sh
. "$here/../common.sh"
recipe_main "$@"
