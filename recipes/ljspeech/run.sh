#!/usr/bin/env bash
# LJSpeech-1.1 (one speaker, 24 h, 22.05 kHz): from nothing to a trained vocoder and
# synthesised clips. Run from the repository root:
#
#   recipes/ljspeech/run.sh                                   # HiFi-GAN V1, stages 0..4
#   recipes/ljspeech/run.sh --config hifigan_v2.yaml --stage 2 --set training.batch_size=32
#   recipes/ljspeech/run.sh --config bigvgan_v2.yaml          # BigVGAN-v2, 22.05 kHz
#
# Configs here: hifigan_v1 (default), hifigan_v2, hifigan_v3, melgan, multiband_melgan,
# parallel_wavegan, istft, bigvgan_v2.
# Data: data/ljspeech (2.6 GB archive + 3.8 GB unpacked); runs: exp/ljspeech/<config>.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
corpus=ljspeech
default_config=hifigan_v1.yaml
kind=vocoder
# shellcheck source=../common.sh
. "$here/../common.sh"
recipe_main "$@"
