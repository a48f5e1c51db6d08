"""Tests for the fast generators: the iSTFT-head vocoder (istft) and WaveGAN (wavegan).

Tiny shapes for speed; the full-size presets are only built to count their parameters.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from audiogan.models import GENERATORS, build_generator
from audiogan.models.istft import InverseSTFT, ISTFTGenerator
from audiogan.models.layers import has_weight_norm
from audiogan.models.wavegan import WaveGANGenerator

# torch.jit is deprecated in favour of torch.export but still what many users deploy; test both.
JIT_DEPRECATION = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")

TINY_ISTFT = {"dim": 16, "intermediate_dim": 24, "num_layers": 2}
N_MELS = 10


@pytest.fixture(autouse=True)
def _seeded() -> None:
    # Weight init draws from the global RNG: seed it so no test depends on test order.
    torch.manual_seed(0)


def tiny_istft(**overrides: object) -> ISTFTGenerator:
    params = {"preset": "small", "in_channels": N_MELS, **TINY_ISTFT, **overrides}
    return build_generator("istft", **params)


def tiny_wavegan(**overrides: object) -> WaveGANGenerator:
    return build_generator("wavegan", **{"model_size": 2, **overrides})


def random_spectrum(n_fft: int, frames: int, batch: int = 2, seed: int = 0):
    """Random one-sided spectra (float64) scaled so the inverse has about unit RMS."""
    gen = torch.Generator().manual_seed(seed)
    shape = (batch, n_fft // 2 + 1, frames)
    scale = math.sqrt(n_fft)
    real = torch.randn(shape, generator=gen, dtype=torch.float64) * scale
    imag = torch.randn(shape, generator=gen, dtype=torch.float64) * scale
    return real, imag


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------- registry


def test_registered_with_class_level_input_kind() -> None:
    build_generator("istft", preset="small", **TINY_ISTFT)  # imports the modules
    assert GENERATORS.get("istft") is ISTFTGenerator
    assert GENERATORS.get("wavegan") is WaveGANGenerator
    assert ISTFTGenerator.__dict__["input_kind"] == "mel"
    assert WaveGANGenerator.__dict__["input_kind"] == "latent"


def test_unknown_preset_and_keyword_errors() -> None:
    with pytest.raises(ValueError, match="valid presets: base, small"):
        build_generator("istft", preset="huge")
    with pytest.raises(TypeError, match="generator 'istft'"):
        build_generator("istft", preset="small", upsample_rates=(8, 8))
    with pytest.raises(ValueError, match="16384, 32768, 65536"):
        build_generator("wavegan", num_samples=8000)


# ---------------------------------------------------------------------------- InverseSTFT

ISTFT_GEOMETRIES = [  # (n_fft, hop, win)
    (1024, 256, 1024),
    (1200, 300, 1200),
    (1280, 320, 1280),
    (1920, 480, 1920),
    (2048, 512, 2048),
    (64, 16, 48),  # window shorter than n_fft: zero-padded in the centre, as torch does
    (64, 16, 47),  # ... also when it cannot sit exactly in the centre
    (63, 16, 63),  # odd n_fft: no Nyquist bin
]


@pytest.mark.parametrize(("n_fft", "hop", "win"), ISTFT_GEOMETRIES)
def test_inverse_stft_equals_torch_istft(n_fft: int, hop: int, win: int) -> None:
    frames = 23
    real, imag = random_spectrum(n_fft, frames)
    reference = torch.istft(
        torch.complex(real, imag),
        n_fft,
        hop,
        win,
        window=torch.hann_window(win, dtype=torch.float64),
        center=True,
        length=frames * hop,
    )
    module = InverseSTFT(n_fft, hop, win, padding="center")
    out = module(real.float(), imag.float())
    assert out.dtype == torch.float32 and out.shape == (2, frames * hop)
    assert (out.double() - reference).abs().max().item() <= 1e-5
    # Both in float32: as close to each other as each is to the float64 truth.
    reference32 = torch.istft(
        torch.complex(real, imag).to(torch.complex64),
        n_fft,
        hop,
        win,
        window=torch.hann_window(win),
        center=True,
        length=frames * hop,
    )
    assert (out - reference32).abs().max().item() <= 1e-5


@pytest.mark.parametrize(("n_fft", "hop", "win"), [(64, 16, 64), (60, 16, 40), (1200, 300, 1200)])
def test_inverse_stft_same_padding_against_loop_reference(n_fft: int, hop: int, win: int) -> None:
    frames = 9
    real, imag = random_spectrum(n_fft, frames)
    window = torch.zeros(n_fft, dtype=torch.float64)
    start = (n_fft - win) // 2
    window[start : start + win] = torch.hann_window(win, dtype=torch.float64)
    frames_time = torch.fft.irfft(torch.complex(real, imag), n=n_fft, dim=1) * window[:, None]
    full = torch.zeros(2, (frames - 1) * hop + n_fft, dtype=torch.float64)
    envelope = torch.zeros((frames - 1) * hop + n_fft, dtype=torch.float64)
    for t in range(frames):
        full[:, t * hop : t * hop + n_fft] += frames_time[:, :, t]
        envelope[t * hop : t * hop + n_fft] += window.square()
    left = (n_fft - hop) // 2  # "same": (n_fft - hop) / 2 trimmed at the start
    reference = (full / envelope)[:, left : left + frames * hop]
    out = InverseSTFT(n_fft, hop, win, padding="same")(real.float(), imag.float())
    assert out.shape == (2, frames * hop)
    assert (out.double() - reference).abs().max().item() <= 1e-5


@pytest.mark.parametrize("hop", [256, 300])
def test_inverse_stft_same_padding_inverts_hifigan_framing(hop: int) -> None:
    # The hifigan profile frames len // hop STFT frames after reflect-padding (n_fft - hop) / 2
    # on each side with center=False; "same" must put every sample back where it was.
    n_fft, frames = 4 * hop, 12
    wave = torch.randn(1, frames * hop, generator=torch.Generator().manual_seed(1))
    pad = (n_fft - hop) // 2
    padded = F.pad(wave.unsqueeze(1), (pad, n_fft - hop - pad), mode="reflect").squeeze(1)
    spec = torch.stft(
        padded, n_fft, hop, window=torch.hann_window(n_fft), center=False, return_complex=True
    )
    assert spec.shape[-1] == frames
    out = InverseSTFT(n_fft, hop, padding="same")(spec.real, spec.imag)
    assert (out - wave).abs().max().item() <= 1e-5


@pytest.mark.parametrize("padding", ["center", "same"])
def test_inverse_stft_fft_and_matmul_paths_agree(padding: str) -> None:
    # Eager runs take the FFT; traces, exports and non-float32 casts the real-DFT matmul.
    module = InverseSTFT(64, 16, padding=padding).double()
    real, imag = random_spectrum(64, 23, batch=2, seed=3)
    fft = module._invert(real.double(), imag.double(), True)
    matmul = module._invert(real.double(), imag.double(), False)
    assert fft.shape == matmul.shape == (2, 23 * 16)
    # The bases are stored in float32, so even in float64 the matmul path rounds at ~1e-7.
    assert (fft - matmul).abs().max().item() < 1e-6
    assert torch.equal(module(real.double(), imag.double()), fft)  # eager float64: the FFT


@JIT_DEPRECATION
def test_inverse_stft_traces_scripts_and_has_no_complex_ops() -> None:
    module = InverseSTFT(64, 16, padding="same")
    real, imag = (x.float() for x in random_spectrum(64, 10, batch=1))
    traced = torch.jit.trace(module, (real, imag))
    kinds = {node.kind() for node in traced.inlined_graph.nodes()}
    forbidden = ("fft", "stft", "complex", "polar", "angle", "view_as_real")
    assert not [k for k in kinds if any(word in k for word in forbidden)], kinds
    # A different batch and length than traced: the trace is not specialised to its example.
    real2, imag2 = (x.float() for x in random_spectrum(64, 37, batch=3, seed=5))
    assert torch.allclose(traced(real2, imag2), module(real2, imag2), atol=1e-6)
    scripted = torch.jit.script(module)
    assert torch.allclose(scripted(real2, imag2), module(real2, imag2), atol=1e-6)
    kinds = {node.kind() for node in scripted.inlined_graph.nodes()}
    assert not [k for k in kinds if any(word in k for word in forbidden)], kinds
    with pytest.raises(ValueError, match="needs 33 frequency bins, got real 32"):
        module(real2[:, :32], imag2[:, :32])


@JIT_DEPRECATION
def test_istft_generator_traces_with_dynamic_length() -> None:
    gen = tiny_istft(n_fft=64, hop_length=16).eval()
    traced = torch.jit.trace(gen, torch.randn(1, N_MELS, 8))
    mel = torch.randn(2, N_MELS, 21)
    assert torch.allclose(traced(mel), gen(mel), atol=1e-6)


def test_istft_generator_exports_with_dynamic_frames() -> None:
    gen = tiny_istft(n_fft=64, hop_length=16).eval()
    frames = torch.export.Dim("frames", min=1, max=100_000)
    program = torch.export.export(gen, (torch.randn(1, N_MELS, 12),), dynamic_shapes=({2: frames},))
    targets = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert not [t for t in targets if "fft" in t or "complex" in t], targets
    mel = torch.randn(1, N_MELS, 29)
    assert torch.allclose(program.module()(mel), gen(mel), atol=1e-6)


def test_inverse_stft_stays_float32_under_autocast() -> None:
    module = InverseSTFT(64, 16)
    real, imag = (x.float() for x in random_spectrum(64, 6))
    expected = module(real, imag)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(real.bfloat16(), imag.bfloat16())
    assert out.dtype == torch.float32
    assert (out - expected).abs().max().item() < 0.1  # bf16 inputs, float32 maths


def test_inverse_stft_rejects_bad_geometry() -> None:
    with pytest.raises(ValueError, match="NOLA"):
        InverseSTFT(64, 32, win_length=16)
    with pytest.raises(ValueError, match="hop_length <= n_fft // 2"):
        InverseSTFT(64, 48, padding="center")
    with pytest.raises(ValueError, match="padding must be one of"):
        InverseSTFT(64, 16, padding="valid")  # type: ignore[arg-type]


# ----------------------------------------------------------------------- istft generator


@pytest.mark.parametrize("padding", ["same", "center"])
@pytest.mark.parametrize("hop", [256, 300, 320, 480, 512])
def test_istft_output_length_is_frames_times_hop(hop: int, padding: str) -> None:
    gen = tiny_istft(n_fft=4 * hop, hop_length=hop, padding=padding)
    assert gen.hop_length == hop
    with torch.no_grad():
        for frames in (1, 5, 17):
            wave = gen(torch.randn(2, N_MELS, frames))
            assert wave.shape == (2, 1, frames * hop)
            assert torch.isfinite(wave).all()


@pytest.mark.parametrize(
    ("n_fft", "hop", "padding"),
    [(64, 16, "same"), (64, 16, "center"), (1024, 256, "same"), (1200, 300, "center")],
)
def test_istft_receptive_field_is_exact(n_fft: int, hop: int, padding: str) -> None:
    gen = tiny_istft(n_fft=n_fft, hop_length=hop, padding=padding)
    reach = gen.receptive_field_frames
    frames = 2 * reach + 7
    mel = torch.randn(1, N_MELS, frames, requires_grad=True)
    block = frames // 2
    gen(mel)[..., block * hop : (block + 1) * hop].sum().backward()
    touched = (mel.grad.abs().sum(dim=1)[0] > 0).nonzero().flatten()
    assert touched.min().item() >= block - reach and touched.max().item() <= block + reach
    assert max(block - touched.min().item(), touched.max().item() - block) == reach


def test_istft_base_receptive_field_value() -> None:
    # 3 frames per k=7 conv (input conv + 8 blocks) plus 2 frames of iSTFT overlap (1024 / 256).
    gen = ISTFTGenerator("base", dim=8, intermediate_dim=8)
    assert gen.receptive_field_frames == 3 * 9 + 2


def test_istft_magnitude_is_clamped() -> None:
    gen = tiny_istft(n_fft=64, hop_length=16)
    with torch.no_grad():
        gen.head.bias[: gen.istft.n_freq].fill_(1e4)  # exp(1e4) would be inf
    wave = gen(torch.randn(1, N_MELS, 6))
    wave.square().mean().backward()
    assert torch.isfinite(wave).all()
    assert all(torch.isfinite(p.grad).all() for p in gen.parameters() if p.grad is not None)


def test_istft_parameter_counts() -> None:
    # Vocos' mel model (dim 512, intermediate 1536, 8 blocks, n_fft 1024, 100 mels) is reported
    # at 13.5M parameters; the same shape here must land within 1% of it. The exact analytic
    # count (input conv, 2 LayerNorms, 8 blocks of dwconv + LN + MLP + scale, linear head):
    def analytic(n_mels: int, dim: int, inter: int, layers: int, n_fft: int) -> int:
        block = dim * 7 + dim + 2 * dim + (dim * inter + inter) + (inter * dim + dim) + dim
        head = dim * (n_fft + 2) + n_fft + 2
        return n_mels * dim * 7 + dim + 2 * 2 * dim + layers * block + head

    base_100 = count(ISTFTGenerator("base", in_channels=100))
    base_80 = count(ISTFTGenerator("base", in_channels=80))
    small_80 = count(ISTFTGenerator("small", in_channels=80))
    print(f"istft base: {base_100:,} (100 mels), {base_80:,} (80 mels); small: {small_80:,}")
    assert base_100 == analytic(100, 512, 1536, 8, 1024) == 13_531_650
    assert abs(base_100 / 13.5e6 - 1) < 0.01
    assert base_80 == analytic(80, 512, 1536, 8, 1024)
    assert small_80 == analytic(80, 128, 384, 4, 1024)


# ------------------------------------------------------------------------------- wavegan


@pytest.mark.parametrize("num_samples", [16384, 32768, 65536])
def test_wavegan_output_shapes(num_samples: int) -> None:
    gen = tiny_wavegan(num_samples=num_samples)
    assert gen.hop_length == num_samples and gen.receptive_field_frames == 0
    assert gen.latent_dim == 100 and gen.num_classes == 0
    with torch.no_grad():
        wave = gen(gen.sample_latent(3, torch.Generator().manual_seed(0)))
    assert wave.shape == (3, 1, num_samples)
    assert wave.abs().max().item() <= 1.0


def test_wavegan_published_shape_and_size() -> None:
    gen = WaveGANGenerator()  # latent 100, d = 64, 16384 samples
    assert gen.dense.in_features == 100 and gen.dense.out_features == 16 * 1024
    shapes = [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in gen.convs]
    assert shapes == [(1024, 512, 25, 4), (512, 256, 25, 4), (256, 128, 25, 4), (128, 64, 25, 4),
                      (64, 1, 25, 4)]  # fmt: skip
    total = count(gen)
    print(f"wavegan d=64, 16384 samples: {total:,} parameters")
    dense = 100 * 16384 + 16384
    convs = sum(c_in * c_out * 25 + c_out for c_in, c_out, _, _ in shapes)
    assert total == dense + convs == 19_065_345
    with torch.no_grad():
        assert gen(gen.sample_latent(1)).shape == (1, 1, 16384)


def test_wavegan_label_errors_and_conditioning() -> None:
    z = torch.zeros(4, 100).uniform_(-1, 1)
    unconditional = tiny_wavegan()
    with pytest.raises(ValueError, match="unconditional"):
        unconditional(z, torch.zeros(4, dtype=torch.long))
    conditional = tiny_wavegan(num_classes=10)
    with pytest.raises(ValueError, match="class-conditional"):
        conditional(z)
    with pytest.raises(ValueError, match="shape"):
        conditional(z, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        conditional(z, torch.tensor([0, 1, 10, 2]))
    with pytest.raises(ValueError, match="integer"):
        conditional(z, torch.zeros(4))
    with pytest.raises(ValueError, match="z must have shape"):
        conditional(torch.zeros(4, 99), torch.zeros(4, dtype=torch.long))
    with torch.no_grad():
        a = conditional(z, torch.tensor([0, 0, 0, 0]))
        b = conditional(z, torch.tensor([3, 3, 3, 3]))
    assert a.shape == (4, 1, 16384) and not torch.allclose(a, b)


def test_wavegan_sample_latent_is_seeded_and_uniform() -> None:
    gen = tiny_wavegan(latent_dim=64)
    first = gen.sample_latent(256, torch.Generator().manual_seed(123))
    again = gen.sample_latent(256, torch.Generator().manual_seed(123))
    other = gen.sample_latent(256, torch.Generator().manual_seed(124))
    assert first.shape == (256, 64) and first.dtype == torch.float32
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.min().item() >= -1.0 and first.max().item() < 1.0
    assert abs(first.mean().item()) < 0.02 and abs(first.var().item() - 1 / 3) < 0.02
    assert first.device == next(gen.parameters()).device


@JIT_DEPRECATION
def test_wavegan_scripts() -> None:
    gen = tiny_wavegan(num_classes=3).eval()
    z, labels = gen.sample_latent(2), torch.tensor([0, 2])
    scripted = torch.jit.script(gen)
    assert torch.allclose(scripted(z, labels), gen(z, labels), atol=1e-6)


# ------------------------------------------------------------------ shared generator checks

CASES = {
    "istft": lambda: tiny_istft(n_fft=64, hop_length=16),
    "istft-weight-norm": lambda: tiny_istft(n_fft=64, hop_length=16, use_weight_norm=True),
    "wavegan": lambda: tiny_wavegan(),
    "wavegan-conditional": lambda: tiny_wavegan(num_classes=4),
}


def generator_input(gen: torch.nn.Module) -> tuple[torch.Tensor, ...]:
    seed = torch.Generator().manual_seed(0)
    if gen.input_kind == "mel":
        return (torch.randn(2, gen.in_channels, 9, generator=seed),)
    z = gen.sample_latent(4, seed)
    if gen.num_classes > 0:
        return z, torch.arange(4) % gen.num_classes
    return (z,)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_reach_every_parameter(case: str) -> None:
    gen = CASES[case]()
    wave = gen(*generator_input(gen))
    target = torch.randn(wave.shape, generator=torch.Generator().manual_seed(1))
    (wave * target).sum().backward()
    for name, param in gen.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum().item() > 0, name


@pytest.mark.parametrize("case", sorted(CASES))
def test_remove_weight_norm_keeps_outputs(case: str) -> None:
    gen = CASES[case]().eval()
    inputs = generator_input(gen)
    with torch.no_grad():
        before = gen(*inputs)
        gen.remove_weight_norm()
        gen.remove_weight_norm()  # idempotent
        after = gen(*inputs)
    assert not has_weight_norm(gen)
    scale = before.abs().max().item()
    assert (after - before).abs().max().item() <= 1e-5 * max(scale, 1e-12)
