"""CLI: synthesize (real speech, bad inputs, exit codes), generate, export, info."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from _inference_runs import Run, vocoder_run, wavegan_run
from click.testing import CliRunner
from faults.hostile import Payload as _Payload

from audiogan import Vocoder, WaveGenerator
from audiogan.cli.main import cli


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return vocoder_run(tmp_path_factory)


@pytest.fixture(scope="module")
def wg_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return wavegan_run(tmp_path_factory)


def _invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_synthesize_real_speech_with_a_corrupt_file(run: Run, dev_data: Path, tmp_path: Path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("LJ001-0002", "LJ001-0008"):
        shutil.copy(dev_data / "ljspeech" / f"{name}.wav", inputs)
    (inputs / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    vctk = sorted((dev_data / "vctk").glob("*.wav"))[0]  # 16 kHz: resampled to 22.05 kHz
    voc = Vocoder.load(run.run_dir)
    mel = voc.features(sf.read(inputs / "LJ001-0002.wav", dtype="float32")[0])
    np.save(tmp_path / "from_tts.npy", mel.numpy())
    np.save(tmp_path / "transposed.npy", mel.numpy().T)
    out = tmp_path / "out"
    result = _invoke("synthesize", run.run_dir, inputs, vctk, tmp_path / "from_tts.npy",
                     tmp_path / "transposed.npy", "-o", out, "--batch-size", "2")
    assert result.exit_code == 1, result.output
    written = sorted(p.name for p in out.iterdir())
    assert written == ["LJ001-0002.wav", "LJ001-0008.wav", "from_tts.wav", vctk.stem + ".wav"]
    assert "2 of 6 inputs failed" in result.output
    assert "broken.wav" in result.output and "transpose" in result.output
    assert "real-time factor" in result.output
    # copy synthesis keeps the input length (up to one hop); a mel gives frames * hop samples
    info = sf.info(dev_data / "ljspeech" / "LJ001-0002.wav")
    synth, sr = sf.read(out / "LJ001-0002.wav", dtype="float32")
    assert sr == 22050 and info.frames - 256 < synth.shape[0] <= info.frames
    assert sf.info(out / "from_tts.wav").frames == mel.shape[-1] * 256
    # batched (padded) synthesis equals synthesising the file alone
    alone = voc(mel).numpy()
    assert np.abs(synth - alone[: synth.shape[0]]).max() <= 2 / 32768 + 1e-4  # PCM_16 rounding
    vctk_out = sf.info(out / f"{vctk.stem}.wav")
    assert abs(vctk_out.frames - sf.info(vctk).frames * 22050 / 16000) <= 256


def test_synthesize_globs_dirs_and_exit_codes(run: Run, tmp_path: Path) -> None:
    voc = Vocoder.load(run.run_dir)
    nested = tmp_path / "mels" / "a"
    nested.mkdir(parents=True)
    mel = voc.features(run.wave)
    np.save(nested / "x.npy", mel.numpy())
    torch.save(mel.clone(), tmp_path / "mels" / "y.pt")
    out = tmp_path / "out"
    result = _invoke("synthesize", run.run_dir, tmp_path / "mels", "-o", out)
    assert result.exit_code == 0, result.output
    assert (out / "a" / "x.wav").is_file() and (out / "y.wav").is_file()
    result = _invoke("synthesize", run.run_dir, str(tmp_path / "mels" / "*.pt"), "-o",
                     tmp_path / "out2")
    assert result.exit_code == 0 and (tmp_path / "out2" / "y.wav").is_file()
    np.save(tmp_path / "linear.npy", mel.exp().numpy())  # not log-mels: a warning, still written
    result = _invoke("synthesize", run.run_dir, tmp_path / "linear.npy", "-o", tmp_path / "out4")
    assert result.exit_code == 0 and (tmp_path / "out4" / "linear.wav").is_file()
    assert "warning: " in result.output and "linear magnitudes rather than" in result.output
    (tmp_path / "bad.npy").write_bytes(b"nonsense")
    result = _invoke("synthesize", run.run_dir, tmp_path / "bad.npy", tmp_path / "nope.wav",
                     "-o", tmp_path / "out3")
    assert result.exit_code == 2
    assert "unreadable .npy" in result.output and "no such file" in result.output
    result = _invoke("synthesize", tmp_path / "no_model", tmp_path / "mels", "-o", out)
    assert result.exit_code == 2 and "error:" in result.output


def test_generate_names_seeds_and_labels(wg_run: Run, tmp_path: Path) -> None:
    out = tmp_path / "clips"
    result = _invoke("generate", wg_run.run_dir, "-n", "3", "-o", out, "--seed", "5",
                     "--label", "b", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["b_00000.wav", "b_00001.wav", "b_00002.wav"]
    # clip 2 regenerated alone (seed 5 + 2, label by index) is the same clip
    result = _invoke("generate", wg_run.run_dir, "-n", "1", "-o", tmp_path / "one", "--seed",
                     "7", "--label", "1")
    assert result.exit_code == 0, result.output
    a, sr = sf.read(out / "b_00002.wav", dtype="float32")
    b, _ = sf.read(tmp_path / "one" / "b_00000.wav", dtype="float32")
    assert sr == 16000 and a.shape == (16384,) and np.array_equal(a, b)
    # no label on a conditional model: the classes take turns
    result = _invoke("generate", wg_run.run_dir, "-n", "2", "-o", tmp_path / "mixed")
    assert sorted(p.name for p in (tmp_path / "mixed").iterdir()) == ["a_00000.wav",
                                                                      "b_00001.wav"]
    result = _invoke("generate", wg_run.run_dir, "-n", "1", "-o", out, "--label", "zebra")
    assert result.exit_code == 2 and "unknown class 'zebra'; classes: a, b" in result.output


def test_export_and_info(run: Run, wg_run: Run, tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = _invoke("export", run.run_dir, "-o", out, "--format", "onnx", "--format",
                     "torchscript")
    if result.exit_code == 2 and "onnxruntime" in result.output:
        pytest.skip("onnxruntime not installed (extra 'onnx')")
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {
        "config.yaml", "generator.safetensors", "generator.onnx", "generator.ts"}
    assert "onnx: max |difference| from PyTorch" in result.output
    result = _invoke("info", out)
    assert result.exit_code == 0, result.output
    voc = Vocoder.load(out)
    count = sum(p.numel() for p in voc.module.parameters())
    assert f"{count:,} parameters" in result.output
    assert "training step: 2 (EMA weights)" in result.output
    assert "profile: hifigan" in result.output and "upsample_initial_channel: 16" in result.output
    result = _invoke("info", wg_run.run_dir)
    assert result.exit_code == 0 and "classes: a, b" in result.output
    assert WaveGenerator.load(wg_run.run_dir).num_samples == 16384
    result = _invoke("export", run.run_dir, "-o", out, "--format", "tflite")
    assert result.exit_code == 2


def _bad_mels(folder: Path, good: np.ndarray) -> dict[str, str]:
    """Bad mel files in ``folder`` -> a phrase their one error line must hold."""
    import pickle

    folder.mkdir()
    marker = folder.parent / "PWNED"
    np.save(folder / "nan.npy", np.where(np.arange(good.shape[1]) == 3, np.nan, good))
    np.save(folder / "n_mels.npy", good[:40])
    np.save(folder / "flat.npy", good[0])
    np.save(folder / "ints.npy", good.astype(np.int32))
    np.save(folder / "empty.npy", good[:, :0])
    np.save(folder / "objects.npy", np.array([good, "x"], dtype=object), allow_pickle=True)
    (folder / "pickled.npy").write_bytes(pickle.dumps(_Payload(marker)))
    torch.save({"mel": _Payload(marker)}, folder / "payload.pt")
    with open(folder / "huge.npy", "wb") as handle:  # sparse: 80 x 2**22 float32 declared
        np.lib.format.write_array_header_1_0(
            handle, {"descr": "<f4", "fortran_order": False, "shape": (80, 2**22)})
        handle.truncate(handle.tell() + 80 * 2**22 * 4)
    return {"nan.npy": "non-finite", "n_mels.npy": "n_mels=80", "flat.npy": "shape",
            "ints.npy": "floating point", "empty.npy": "empty", "objects.npy": "unreadable .npy",
            "pickled.npy": "unreadable .npy", "payload.pt": "code in the file is never run",
            "huge.npy": "too large"}


def test_bad_mel_files_are_one_line_each_and_never_run_code(run: Run, tmp_path: Path) -> None:
    voc = Vocoder.load(run.run_dir)
    good = voc.features(run.wave[:4096]).numpy()
    expected = _bad_mels(tmp_path / "mels", good)
    np.save(tmp_path / "mels" / "good.npy", good)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["synthesize", str(run.run_dir), str(tmp_path / "mels"),
                                      "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == len(expected), errors
    for name, phrase in expected.items():
        (line,) = [e for e in errors if f"/{name}: " in e]
        assert phrase in line and line.count(name) == 1, line
    assert result.stderr.splitlines()[-1] == f"{len(expected)} of {len(expected) + 1} inputs failed"
    assert [p.name for p in out.iterdir()] == ["good.wav"]
    assert not (tmp_path / "PWNED").exists()


def test_generate_label_errors_are_one_line(wg_run: Run, tmp_path: Path) -> None:
    for label, phrase in (("zebra", "unknown class 'zebra'; classes: a, b"),
                          ("7", "label 7 out of range [0, 2)")):
        result = _invoke("generate", wg_run.run_dir, "-n", "1", "-o", tmp_path, "--label", label)
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
        assert result.stderr.splitlines() == [f"error: {phrase}"]
    assert not list(tmp_path.iterdir())


def test_a_vocoder_given_to_generate_is_one_line(run: Run, tmp_path: Path) -> None:
    result = _invoke("generate", run.run_dir, "-n", "1", "-o", tmp_path / "x")
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and "Vocoder.load" in line


def test_ctrl_c_in_generate_exits_130_and_keeps_finished_clips(wg_run: Run, tmp_path: Path,
                                                               monkeypatch) -> None:
    from audiogan.core import faults

    monkeypatch.setattr(faults, "_hits", type(faults._hits)())
    monkeypatch.setenv("AUDIOGAN_FAULT", "atomic.before_rename@2=int")  # SIGINT at clip 2
    result = _invoke("generate", wg_run.run_dir, "-n", "3", "-o", tmp_path / "out", "--label",
                     "a")
    assert result.exit_code == 130
    assert result.stderr.splitlines()[-1].startswith("error: interrupted")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a_00000.wav"]
