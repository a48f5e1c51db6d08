#!/usr/bin/env bash
# VCTK 0.92 (110 speakers, 44 h, 48 kHz FLAC, resampled once to 24 kHz): a multi-speaker
# vocoder with an unseen-speaker test set. Run from the repository root:
#
#   recipes/vctk/run.sh                                      # HiFi-GAN V1 at 24 kHz, mic1
#   recipes/vctk/run.sh --mic mic2 --config istft.yaml
#
# Configs here: hifigan_v1 (default, 24 kHz, 100 mels), istft (Vocos features, 24 kHz).
# Data: data/vctk (11 GB archive + 12 GB unpacked + about 7 GB 24 kHz cache);
# runs: exp/vctk/<config>.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
corpus=vctk
default_config=hifigan_v1.yaml
kind=vocoder
# shellcheck source=../common.sh
. "$here/../common.sh"
recipe_main "$@"
