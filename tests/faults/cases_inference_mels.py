"""Fault cases for ``synthesize`` on hostile mel files: NaN, the wrong n_mels, 1-D, batched,
integer, boolean, complex, empty, pickled, object arrays, archives, huge (declared sparse) or
``.pt`` payloads, alone or next to a good mel, and all of them in one folder. Each is one
``error:`` line naming the file, no code in a file runs, the good mels are still synthesised.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .harness import Case, Scenario
from .hostile import Payload as _Payload
from .inference_kit import _mel, _model, _no_marker, _wavs

# ------------------------------------------------------------------------------ mel inputs


def _save_npy(path: Path, array: np.ndarray, allow_pickle: bool = False) -> None:
    np.save(path, array, allow_pickle=allow_pickle)


def _huge_npy(path: Path) -> None:
    with open(path, "wb") as handle:  # 80 x 2**22 float32 declared, stored sparsely
        np.lib.format.write_array_header_1_0(
            handle, {"descr": "<f4", "fortran_order": False, "shape": (80, 2**22)})
        handle.truncate(handle.tell() + 80 * 2**22 * 4)


def _pickled_npy(path: Path) -> None:
    path.write_bytes(pickle.dumps(_Payload(path.parent.parent / "PWNED")))


def _payload_pt(path: Path) -> None:
    import torch

    torch.save({"mel": _Payload(path.parent.parent / "PWNED")}, path)


def _dict_pt(path: Path) -> None:
    import torch

    torch.save({"mel": torch.zeros(80, 10)}, path)


def _npz_as_npy(path: Path) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, a=_mel(), b=_mel())


MELS: list[tuple[str, str, Callable[[Path], None], str]] = [
    ("nan", "nan.npy", lambda p: _save_npy(p, np.where(np.arange(24) == 5, np.nan, _mel())),
     "non-finite"),
    ("inf", "inf.npy", lambda p: _save_npy(p, np.where(np.arange(24) == 0, -np.inf, _mel())),
     "non-finite"),
    ("wrong_n_mels", "n64.npy", lambda p: _save_npy(p, _mel()[:64]), "n_mels=80"),
    ("transposed", "transposed.npy", lambda p: _save_npy(p, _mel(30).T), "transpose"),
    ("one_d", "flat.npy", lambda p: _save_npy(p, _mel()[0]), "shape"),
    ("four_d", "deep.npy", lambda p: _save_npy(p, _mel()[None, None]), "shape"),
    ("batch_of_two", "batch.npy", lambda p: _save_npy(p, np.stack([_mel(), _mel()])), "batch"),
    ("int_dtype", "ints.npy", lambda p: _save_npy(p, _mel().astype(np.int16)), "floating"),
    ("bool_dtype", "bools.npy", lambda p: _save_npy(p, _mel() > -6), "floating"),
    ("complex_dtype", "complex.npy", lambda p: _save_npy(p, _mel().astype(np.complex64)),
     "floating"),
    ("empty", "empty.npy", lambda p: _save_npy(p, _mel()[:, :0]), "empty"),
    ("object_array", "objects.npy",
     lambda p: _save_npy(p, np.array([_mel(), "x"], dtype=object), True), "unreadable .npy"),
    ("pickled_npy", "pickled.npy", _pickled_npy, "unreadable .npy"),
    ("npz_named_npy", "archive.npy", _npz_as_npy, "several arrays"),
    ("truncated_npy", "cut.npy", lambda p: (_save_npy(p, _mel(200)),
                                            p.write_bytes(p.read_bytes()[:500])),
     "unreadable .npy"),
    ("garbage_npy", "garbage.npy", lambda p: p.write_bytes(b"\x93NUMPY garbage"),
     "unreadable .npy"),
    ("huge_npy", "huge.npy", _huge_npy, "too large"),
    ("payload_pt", "payload.pt", _payload_pt, "code in the file is never run"),
    ("dict_pt", "dict.pt", _dict_pt, "not one tensor"),
    ("garbage_pt", "junk.pt", lambda p: p.write_bytes(b"not a torch file"), "unreadable .pt"),
]


def _bad_mel(name: str, make: Callable[[Path], None], phrase: str,
             with_good: bool) -> Callable[[Path], Scenario]:
    def build(tmp: Path) -> Scenario:
        model = _model(tmp)
        folder = tmp / "in"
        folder.mkdir()
        make(folder / name)
        inputs = [str(folder / name)]
        if with_good:
            np.save(folder / "good.npy", _mel())
            inputs.append(str(folder / "good.npy"))
        out = tmp / "out"
        return Scenario(["synthesize", str(model), *inputs, "-o", str(out)],
                        1 if with_good else 2, (f"{name}: ", phrase),
                        intact=_no_marker(tmp, _wavs(out, ["good.wav"] if with_good else [])))

    return build


def _all_bad_mels(tmp: Path) -> Scenario:
    model = _model(tmp)
    folder = tmp / "in"
    folder.mkdir()
    for _, name, make, _ in MELS:
        make(folder / name)
    np.save(folder / "good.npy", _mel())
    return Scenario(["synthesize", str(model), str(folder), "-o", str(tmp / "out")], 1,
                    tuple(name for _, name, _, _ in MELS), errors=len(MELS),
                    intact=_no_marker(tmp, _wavs(tmp / "out", ["good.wav"])))


CASES: list[Case] = [
    *(Case(f"inference/mel/{case}", _bad_mel(name, make, phrase, with_good=False))
      for case, name, make, phrase in MELS),
    *(Case(f"inference/mel/{case}+good", _bad_mel(name, make, phrase, with_good=True))
      for case, name, make, phrase in MELS[:4]),
    Case("inference/mel/every_bad_kind_in_one_folder", _all_bad_mels),
]
