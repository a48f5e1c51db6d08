#!/usr/bin/env bash
# Any folder of audio files (WAV, FLAC, ... searched recursively; speech, singing, instruments):
# a 44.1 kHz BigVGAN-v2 universal vocoder trained on your own recordings. Nothing is downloaded:
# stage 0 only checks the folder. Run from the repository root:
#
#   recipes/folder/run.sh --root my_audio                      # BigVGAN-v2 44.1 kHz, 512x
#   recipes/folder/run.sh --root my_audio --config bigvgan_v2_44k_256x.yaml --stage 2
#
# Configs here: bigvgan_v2_44k (default; NVIDIA's 44khz_128band_512x), bigvgan_v2_44k_256x
# (44khz_128band_256x). Manifests: <root>/manifests (clips at other rates are resampled once
# into <root>/manifests/audio_44100); runs: exp/folder/<config>.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
corpus=folder
default_config=bigvgan_v2_44k.yaml
kind=vocoder
# shellcheck source=../common.sh
. "$here/../common.sh"
recipe_main "$@"
