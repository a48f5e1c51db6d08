"""Generator initialisation: PyTorch's default vs an N(0, std) draw, by copy-synthesis quality.

Reference implementations of HiFi-GAN (jik876/hifi-gan, ParallelWaveGAN) and MelGAN
(descriptinc/melgan-neurips, ParallelWaveGAN) draw conv weights from N(0, 0.01) / N(0, 0.02)
*after* wrapping the convs in old-style weight norm, which recomputes the weight from its
magnitude and direction before every forward: the draw never takes effect and those models
train from PyTorch's default initialisation. This script trains the same config both ways
(``generator.params.init_std`` unset vs set) and reports the log-mel L1 (natural-log mel
units, :func:`audiogan.cli.demo.copy_synthesis_mel_l1`) of held-back synthetic clips before and
after training.

    python benchmarks/init_comparison.py --config demo --steps 300 --seeds 0 1
    python benchmarks/init_comparison.py --config recipes/tiny/melgan.yaml --std 0.02

``--config demo`` is the demo's vocoder config (:func:`audiogan.cli.demo.vocoder_config`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bench_common as bc
import torch

SUPPORTED = ("hifigan", "melgan", "multiband_melgan")  # generators with an init_std parameter
COLUMNS = ("config", "init", "seed", "steps", "untrained_l1", "trained_l1", "trained_ratio",
           "train_s", "load")


def build_config(name: str, corpus: dict[str, Path], steps: int, seed: int,
                 init_std: float | None, overrides: Sequence[str]) -> Any:
    """The config ``name`` ("demo" or a recipe path) on ``corpus`` with the given init."""
    from audiogan.cli.demo import vocoder_config
    from audiogan.config import config_from_dict, load_config

    sets = [f"training.max_steps={steps}", f"training.valid_every={steps}",
            f"training.checkpoint_every={steps}", f"training.seed={seed}", *overrides]
    if name == "demo":
        plain = vocoder_config(corpus["train"], corpus["valid"], quick=True).to_dict()
        plain["training"]["discriminator_start_step"] = int(steps * 0.8)
        config = config_from_dict(plain, overrides=sets)
    else:
        config = load_config(name, [f"data.train={corpus['train']}",
                                    f"data.valid={corpus['valid']}", *sets])
    if config.generator.name not in SUPPORTED:
        raise SystemExit(f"{name}: generator {config.generator.name!r} has no init_std; "
                         f"this script compares {', '.join(SUPPORTED)}")
    plain = config.to_dict()
    plain["generator"]["params"]["init_std"] = init_std
    return config_from_dict(plain)


def run_one(config: Any, name: str, run_dir: Path, valid: Path) -> dict[str, Any]:
    """Train ``config`` once; the untrained and trained copy-synthesis log-mel L1."""
    from audiogan.cli.demo import copy_synthesis_mel_l1
    from audiogan.config.build import generator_from_config
    from audiogan.training.trainer import Trainer

    t = config.training
    torch.manual_seed(t.seed)
    before, _ = copy_synthesis_mel_l1(generator_from_config(config).eval(), config, valid)
    start = time.perf_counter()
    trainer = Trainer(config, run_dir, device="cpu", console=False)
    trainer.fit()
    seconds = time.perf_counter() - start
    after, _ = copy_synthesis_mel_l1(trainer.eval_generator(), config, valid)
    init = config.generator.params.get("init_std")
    return {"config": name, "init": "pytorch default" if init is None else f"N(0, {init:g})",
            "seed": t.seed, "steps": t.max_steps, "untrained_l1": before, "trained_l1": after,
            "trained_ratio": after / before, "train_s": seconds, "load": bc.load_string()}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="demo", help='"demo" or a recipe YAML')
    parser.add_argument("--std", type=float, default=0.01, help="the N(0, std) to compare")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--utterances", type=int, default=40, help="synthetic corpus size")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="config override (repeatable)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tiny", action="store_true",
                        help="smoke run: 2 steps, 6 utterances, batch 2 x 2048, one seed")
    parser.add_argument("--json", help="write rows + machine info")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from audiogan.data.synthetic import build_synthetic_corpus

    bc.set_threads(args.threads)
    overrides = list(args.overrides)
    if args.tiny:
        args.steps, args.seeds, args.utterances = 2, args.seeds[:1], 6
        overrides += ["training.batch_size=2", "training.segment_length=2048",
                      "training.valid_clips=1", "training.num_samples=1"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="init_comparison_") as tmp:
        corpus = build_synthetic_corpus(Path(tmp) / "data", num_utterances=args.utterances,
                                        seed=0, valid_fraction=0.1)
        for seed in args.seeds:
            for std in (None, args.std):
                config = build_config(args.config, corpus, args.steps, seed, std, overrides)
                run_dir = Path(tmp) / f"run_{seed}_{std}"
                rows.append(run_one(config, Path(args.config).stem, run_dir, corpus["valid"]))
                print(bc.format_table(rows[-1:], COLUMNS).splitlines()[-1], flush=True)
    print()
    print(bc.format_table(rows, COLUMNS))
    if args.json:
        bc.write_json(args.json, {"benchmark": "init_comparison", "args": vars(args),
                                  "machine": bc.machine_info(torch.device("cpu")),
                                  "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
