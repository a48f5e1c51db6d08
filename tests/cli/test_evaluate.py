"""`audiogan evaluate` and `audiogan train-classifier` end to end on tiny trained models."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner
from conftest import DEV_DATA
from evaluation.test_report import (
    assert_browser_sees_everything,
    assert_report_structure,
    check_in_browser,
)
from training_helpers import _write_corpus, vocoder_config, wavegan_config

from audiogan.cli.main import cli
from audiogan.data.synthetic import build_synthetic_clips
from audiogan.evaluation.metrics import INTRUSIVE_METRICS, METRICS
from audiogan.training.trainer import Trainer

SHORT_CLIPS = ("LJ001-0002.wav", "LJ001-0008.wav", "LJ001-0013.wav", "LJ001-0090.wav")


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    """Four short LJSpeech clips from tests/data/speech with train/valid manifests."""
    source = DEV_DATA / "ljspeech"
    root = tmp_path_factory.mktemp("speech")
    rows = ["path\tnum_samples\tsample_rate"]
    for name in SHORT_CLIPS:
        shutil.copy(source / name, root / name)
        info = sf.info(root / name)
        rows.append(f"{name}\t{info.frames}\t{info.samplerate}")
    (root / "train.tsv").write_text("\n".join(rows) + "\n")
    (root / "valid.tsv").write_text("\n".join(rows[:2]) + "\n")
    return root


@pytest.fixture(scope="module")
def vocoder_run(speech: Path, tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("runs") / "tiny"
    config = vocoder_config(speech, max_steps=2, checkpoint_every=2, discriminator_start_step=1)
    Trainer(config, run, device="cpu", console=False).fit()
    return run


def test_evaluate_two_vocoders_on_real_speech(
    vocoder_run: Path, speech: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    checkpoint = vocoder_run / "checkpoints" / "step_00000002.pt"
    result = _invoke("evaluate", vocoder_run, checkpoint, "--data", speech / "train.tsv",
                     "-o", out, "--limit", "2", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "RTF" in result.output and f"report: {out / 'report.html'}" in result.output

    summary = json.loads((out / "summary.json").read_text())
    assert summary["format"] == "audiogan-evaluation" and summary["num_clips"] == 2
    assert set(summary["metrics"]) == set(METRICS)
    names = list(summary["models"])
    assert names == ["tiny", "tiny/step_00000002"]
    for info in summary["models"].values():
        assert info["kind"] == "vocoder" and info["num_clips"] == 2 and info["num_failed"] == 0
        assert info["rtf"] == pytest.approx(info["compute_seconds"] / info["audio_seconds"])
        assert info["compute_seconds"] > 0 and info["sample_rate"] == 22050
        for key in INTRUSIVE_METRICS:
            assert key in info["metrics"], key
        assert info["metrics"]["log_mel_l1_db"]["count"] == 2
        assert info["metrics"]["log_mel_l1_db"]["mean"] > 0

    with open(out / "per_clip.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and {r["model"] for r in rows} == set(names)
    assert all(float(r["log_mel_l1_db"]) > 0 and float(r["rtf"]) > 0 for r in rows)
    for name, info in summary["models"].items():  # the summary aggregates the per-clip rows
        values = [float(r["log_mel_l1_db"]) for r in rows if r["model"] == name]
        stats = info["metrics"]["log_mel_l1_db"]
        assert [stats["mean"], stats["min"], stats["max"]] == pytest.approx(
            [np.mean(values), min(values), max(values)], rel=1e-4)

    links = assert_report_structure(out)
    assert links.audio_elements == 2 * 3  # original + two models per clip
    page = (out / "report.html").read_text()
    first, second = (page.index(f"{n}.wav (") for n in ("LJ001-0002", "LJ001-0008"))
    worst_first = sorted(
        {r["clip"]: float(r["log_mel_l1_db"]) for r in rows if r["model"] == "tiny"}.items(),
        key=lambda item: -item[1],
    )
    assert (first < second) == worst_first[0][0].endswith("LJ001-0002")
    assert_browser_sees_everything(check_in_browser(out, tmp_path), links)


def test_evaluate_reports_bad_clips_and_usage_errors(
    vocoder_run: Path, speech: Path, tmp_path: Path
) -> None:
    data = tmp_path / "clips"
    data.mkdir()
    shutil.copy(speech / SHORT_CLIPS[0], data / "good.wav")
    (data / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    out = tmp_path / "report"
    result = _invoke("evaluate", vocoder_run, "--data", data, "-o", out)
    assert result.exit_code == 1, result.output
    assert "1 of 2 clips failed" in result.output and "broken.wav" in result.output
    assert_report_structure(out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["models"]["tiny"]["num_clips"] == 1 and len(summary["failures"]) == 1

    missing = _invoke("evaluate", vocoder_run, "--data", tmp_path / "nope", "-o", out)
    assert missing.exit_code == 2 and missing.output.count("\n") == 1
    assert "nope" in missing.output

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep")
    refused = _invoke("evaluate", vocoder_run, "--data", data / "good.wav", "-o", precious)
    assert refused.exit_code == 2 and "not an audiogan report" in refused.output
    assert (precious / "notes.txt").read_text() == "keep"


def test_evaluate_says_how_to_get_pesq_and_stoi(
    vocoder_run: Path, speech: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pesq", None)
    monkeypatch.setitem(__import__("sys").modules, "pystoi", None)
    out = tmp_path / "report"
    result = _invoke("evaluate", vocoder_run, "--data", speech / SHORT_CLIPS[1], "-o", out)
    assert result.exit_code == 0, result.output
    assert "pip install 'audiogan[eval]'" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["skipped_metrics"]) == {"pesq_wb", "stoi"}
    assert "pesq_wb" not in summary["models"]["tiny"]["metrics"]


def test_train_classifier_and_score_an_unconditional_model(tmp_path: Path) -> None:
    digits = build_synthetic_clips(
        tmp_path / "digits", num_clips=80, clip_length=8000, sample_rate=16000,
        valid_fraction=0.25,
    )
    classifier = tmp_path / "classifier.safetensors"
    trained = _invoke("train-classifier", digits["train"], "-o", classifier, "--epochs", "20",
                      "--clip-length", "8000", "--lr", "0.003", "--batch-size", "16",
                      "--device", "cpu")
    assert trained.exit_code == 0, trained.output
    assert "held-back" in trained.output and classifier.is_file()

    corpus = tmp_path / "ab"
    _write_corpus(corpus, n=8, seconds=1.0, sr=16000, labels=True)
    run = tmp_path / "wavegan"
    Trainer(wavegan_config(corpus, max_steps=1), run, device="cpu", console=False).fit()

    out = tmp_path / "report"
    result = _invoke("evaluate", run, "--data", digits["valid"], "-o", out, "--classifier",
                     classifier, "--num-generated", "4", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "IS " in result.output and "classifier accuracy on 20 real clips" in result.output
    info = json.loads((out / "summary.json").read_text())["models"]["wavegan"]
    scores = info["scores"]
    assert info["kind"] == "unconditional" and info["num_generated"] == 4
    # the printed and saved scores are the library's, on the same generated and real clips
    expected_is, expected_fd = _scores_by_hand(run, classifier, digits["valid"], count=4, seed=0)
    assert scores["inception_score"] == pytest.approx(expected_is, rel=1e-5)
    assert scores["frechet_distance"] == pytest.approx(expected_fd, rel=1e-4, abs=1e-6)
    assert f"IS {scores['inception_score']:.3f}" in result.output
    assert f"FD {scores['frechet_distance']:.3f}" in result.output
    assert scores["classifier_accuracy_real"] >= 0.5 and scores["num_real_labelled"] == 20
    links = assert_report_structure(out)
    assert links.audio_elements == 4
    page = (out / "report.html").read_text()
    assert "Generated clips: wavegan" in page and "asked: a" in page and "classified:" in page


def _scores_by_hand(run: Path, classifier: Path, manifest: Path, *, count: int,
                    seed: int) -> tuple[float, float]:
    """Inception score and Fréchet distance of ``count`` clips sampled from ``run`` at ``seed``
    against the clips of ``manifest``, through the library's public functions."""
    from audiogan import WaveGenerator
    from audiogan.audio import load_audio
    from audiogan.data.manifest import read_manifest
    from audiogan.evaluation.classifier import load_classifier, predict, prepare_clips
    from audiogan.evaluation.metrics import frechet_distance, inception_score

    model = load_classifier(classifier)
    config = model.config
    generator = WaveGenerator.load(run)
    generated = predict(model, prepare_clips(generator.sample(count, seed=seed).float(),
                                             generator.sample_rate, config))
    real_waves = [load_audio(entry.path, sample_rate=config.sample_rate)[0][0]
                  for entry in read_manifest(manifest)]
    real = predict(model, prepare_clips(real_waves, config.sample_rate, config))
    return (inception_score(generated.probabilities),
            frechet_distance(generated.embeddings, real.embeddings))


# --------------------------------------------------------------------------- faults (untrained)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """An untrained tiny HiFi-GAN checkpoint (no training: the faults do not need quality)."""
    from audiogan.config import config_from_dict
    from audiogan.config.build import generator_from_config

    corpus = _write_corpus(tmp_path_factory.mktemp("c"), n=1, seconds=0.3, sr=22050)
    config = vocoder_config(corpus)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("m") / "tiny.pt"
    torch.save({"format": "audiogan-checkpoint", "config": config_from_dict(
        config.to_dict()).to_dict(), "generator": generator_from_config(config).state_dict()}, path)
    return path


def _tone(seconds: float, rate: int = 22050, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * 170.0 * t)).astype(np.float32)


def _run(*args: object):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert not (result.exception and not isinstance(result.exception, SystemExit)), result.output
    return result


def test_each_bad_clip_is_one_line_and_a_silent_reference_never_reaches_a_mean(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    data = tmp_path / "clips"
    data.mkdir()
    for i in range(3):
        sf.write(data / f"voice{i}.wav", _tone(0.3 + 0.05 * i), 22050)
    sf.write(data / "silence.wav", np.zeros(11025, np.float32), 22050)
    (data / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    out = tmp_path / "report"
    result = _run("evaluate", tiny_checkpoint, "--data", data, "-o", out, "--device", "cpu")
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, result.stderr
    for name, error in zip(("broken.wav", "silence.wav"), errors, strict=True):
        assert error.startswith(f"error: {data / name}: ") and error.count(name) == 1, error
    assert "silent reference (all samples zero)" in errors[1]
    assert "broken.wav" not in result.stderr.replace(errors[0], "")  # not repeated at the end

    summary = json.loads((out / "summary.json").read_text())
    assert [f["item"] for f in summary["failures"]] == [str(data / "broken.wav")]
    assert [s["item"] for s in summary["skipped_clips"]] == [str(data / "silence.wav")]
    info = summary["models"]["tiny"]
    assert info["num_clips"] == 3 and info["metrics"]["mrstft"]["count"] == 3
    assert info["metrics"]["mrstft"]["max"] < 100  # a silent reference gave ~1e6
    rows = list(csv.DictReader((out / "per_clip.csv").open()))
    assert sorted(Path(r["source"]).name for r in rows) == [f"voice{i}.wav" for i in range(3)]
    assert "Skipped clips" in (out / "report.html").read_text()


def test_an_interrupted_evaluation_keeps_the_earlier_report(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch
) -> None:
    from audiogan.core import faults

    data = tmp_path / "clips"
    data.mkdir()
    for i in range(2):
        sf.write(data / f"voice{i}.wav", _tone(0.3), 22050)
    out = tmp_path / "report"
    first = _run("evaluate", tiny_checkpoint, "--data", data, "-o", out, "--device", "cpu")
    assert first.exit_code == 0, first.output
    earlier = (out / "summary.json").read_text()
    faults._hits.clear()
    monkeypatch.setenv("AUDIOGAN_FAULT", "evaluate.clip@2=int")
    result = _run("evaluate", tiny_checkpoint, "--data", data, "-o", out, "--device", "cpu")
    assert result.exit_code == 130, result.output
    assert result.stderr.count("error:") == 1 and "interrupted (SIGINT)" in result.stderr
    assert (out / "summary.json").read_text() == earlier
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_clip_screening_thresholds() -> None:
    from audiogan.evaluation.inputs import screen_clip

    assert screen_clip(torch.zeros(22050), 22050).silent
    assert screen_clip(torch.full((22050,), 0.0009), 22050).silent  # peak -61 dBFS
    assert screen_clip(torch.full((22050,), 0.0011), 22050) is None  # -59 dBFS: quiet, kept
    hiss = torch.full((22050,), 2e-4)
    hiss[100] = 0.01  # a -40 dBFS click does not make a noise floor a reference
    assert screen_clip(hiss, 22050).silent and "RMS" in screen_clip(hiss, 22050).reason
    short = screen_clip(torch.full((1000,), 0.5), 22050)
    assert short is not None and not short.silent and "too short" in short.reason
    assert screen_clip(torch.from_numpy(_tone(0.2)), 22050) is None


def test_bad_evaluate_arguments_are_typed_errors(tmp_path: Path) -> None:
    from audiogan.core.errors import AudioganError
    from audiogan.evaluation.run import EvaluationError, collect_clips, evaluate

    (tmp_path / "empty").mkdir()
    for call in (lambda: collect_clips(tmp_path / "missing"),
                 lambda: collect_clips(tmp_path / "empty"),
                 lambda: collect_clips(tmp_path, limit=0),
                 lambda: evaluate([], tmp_path, tmp_path / "r")):
        with pytest.raises(EvaluationError) as caught:
            call()
        assert isinstance(caught.value, AudioganError) and "\n" not in str(caught.value)


def test_evaluate_seed_keys_a_noise_driven_vocoders_copy_synthesis(tmp_path: Path) -> None:
    """`evaluate --seed S` on a Parallel WaveGAN: each written clip is
    `Vocoder.resynthesize(wave, seed=S)` (16-bit files, so to a quantisation step), and another
    seed gives other audio."""
    from audiogan import Vocoder
    from audiogan.config import config_from_dict
    from audiogan.inference.export import export_model
    from audiogan.inference.model_dir import LoadedModel
    from audiogan.models import build_generator

    params = {"layers": 4, "stacks": 2, "residual_channels": 8, "gate_channels": 16,
              "skip_channels": 8}
    torch.manual_seed(0)
    generator = build_generator("parallel_wavegan", in_channels=80, **params)
    config = config_from_dict({
        "features": {"profile": "pwg"},
        "generator": {"name": "parallel_wavegan", "params": params},
        "discriminator": {"name": "parallel_wavegan", "params": {"layers": 3, "channels": 8}}})
    model = tmp_path / "pwg"
    export_model(LoadedModel(generator, config), model)
    clips = tmp_path / "clips"
    clips.mkdir()
    tone = 0.25 * _tone(0.5)
    sf.write(clips / "tone.wav", tone, 22050, subtype="FLOAT")
    voc = Vocoder.load(model, device="cpu")
    written = {}
    for seed in (0, 3):
        out = tmp_path / f"report_{seed}"
        result = _invoke("evaluate", model, "--data", clips, "-o", out, "--device", "cpu",
                         "--no-normalize", "--seed", seed)
        assert result.exit_code == 0, result.output
        (path,) = sorted((out / "audio").rglob("pwg.wav"))
        written[seed], _ = sf.read(path, dtype="float32")
        expected = voc.resynthesize(torch.from_numpy(tone).float(), seed=seed).clamp(-1, 1)
        assert written[seed].shape == tuple(expected.shape)
        assert np.abs(written[seed] - expected.numpy()).max() <= 2 / 32768
    assert np.abs(written[0] - written[3]).max() > 1e-2
