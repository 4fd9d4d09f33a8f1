"""Run a command as an AVX2-only CPU (no AVX-512, no VNNI) would run it, on this CPU.

Every machine these benchmarks ran on has AVX-512 VNNI, while the issues ask for figures on
AVX2-only CPUs too. qemu (``bench.fidelity --emulate``) computes what such a CPU computes,
~100x slower. This runs at native speed instead, on the code paths such a CPU takes:

- **onnxruntime** (the encoders' kernels) has no switch, so a copy of it is made whose
  XGETBV instructions trap into ``bench/avx2_shim.c`` (loaded with ``LD_PRELOAD``), which
  reports that the OS does not save AVX-512 state; onnxruntime then picks its AVX2 kernels,
  as it does on a CPU without AVX-512;
- **numpy** (``NPY_DISABLE_CPU_FEATURES``), **OpenBLAS** (numpy's and faiss's matrix
  products: ``OPENBLAS_CORETYPE=Haswell``), **faiss** (``FAISS_SIMD_LEVEL``,
  ``FAISS_OPT_LEVEL``), **torch** (``ATEN_CPU_CAPABILITY``, ``MKL_ENABLE_INSTRUCTIONS``,
  ``ONEDNN_MAX_CPU_ISA``) through their own documented switches;
- **embedspace** reads its CPU class from ``/proc/cpuinfo``: the shim hands it the same
  text without the AVX-512, VNNI and AMX flags.

Child processes inherit all of it, unless they replace ``PYTHONPATH`` (then they import
the unmasked onnxruntime) or the environment. What it is not: an AVX2-only *chip*. The
arithmetic of the encoders is that of one (``--check`` compares onnxruntime's vectors with
qemu's ``EPYC-Rome`` bit for bit, and shows the u8 x s8 saturation only CPUs without VNNI
have), but the core, clocks and caches are this machine's, so speed is that of AVX2 code on
this CPU. Other libraries (tokenizers, SQLite, usearch, scipy's own code) keep this CPU's
features. CPUs with AVX-VNNI (Sapphire Rapids and later, Zen 5) are refused: their VNNI
kernels need no AVX-512 state, so hiding it would not hide them.

    .venv/bin/python -m bench.avx2 --check
    .venv/bin/python -m bench.avx2 -- .venv/bin/python -m bench.encode --sentences 5000

Needs ``gcc`` and ``objdump`` (Debian: ``apt-get install gcc libc6-dev binutils``); what it
builds goes to ``bench/.cache/avx2/`` (the copy of onnxruntime is ~70 MB).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from embedspace.encoders.cpu import current_cpu

HERE = Path(__file__).resolve().parent
BUILD = HERE / ".cache" / "avx2"
PATCH_VERSION = "1"  # bump when what is patched, or how, changes: copies are made again
XGETBV = b"\x0f\x01\xd0"
TRAP = b"\x0f\x0b\x90"  # UD2 + NOP: the shim's SIGILL handler runs XGETBV for it
HIDDEN_FLAGS = re.compile(r"^(avx512\w*|avx_vnni\w*|amx\w*)$")
TOOLS = "apt-get install gcc libc6-dev binutils"
SWITCHES = {
    "FAISS_OPT_LEVEL": "AVX2",  # faiss builds with one library per level
    "FAISS_SIMD_LEVEL": "AVX2",  # faiss builds with dynamic dispatch (1.15: "DD")
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",  # numpy's and faiss's OpenBLAS: its AVX2 kernels
}


def _numpy_avx512_targets() -> str:
    """numpy's dispatch targets that use AVX-512 (their names change between versions:
    ``AVX512_SKX`` ... before 2.4, ``X86_V4`` ... since), for ``NPY_DISABLE_CPU_FEATURES``."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_dispatch__  # type: ignore[no-redef]
    return " ".join(t for t in __cpu_dispatch__ if "AVX512" in t or t == "X86_V4")


def _text_section(library: Path) -> tuple[int, int]:
    """(address, file offset) of the library's .text section."""
    out = subprocess.run(
        ["objdump", "-h", str(library)], capture_output=True, text=True, check=True
    )
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[1] == ".text":
            return int(parts[3], 16), int(parts[5], 16)
    raise SystemExit(f"{library}: no .text section")


def _xgetbv_offsets(library: Path) -> list[int]:
    """File offsets of the XGETBV instructions, found by disassembling (the same three
    bytes also occur inside other instructions and data, which must not be touched)."""
    address, offset = _text_section(library)
    out = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", "-j", ".text", str(library)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.findall(r"^\s*([0-9a-f]+):\s+xgetbv\s*$", out.stdout, re.MULTILINE)
    return [int(hit, 16) - address + offset for hit in found]


def _patch(library: Path) -> int:
    """Rewrite every XGETBV of ``library`` as the trap; return how many."""
    data = bytearray(library.read_bytes())
    offsets = _xgetbv_offsets(library)
    for at in offsets:
        if data[at : at + 3] != XGETBV:
            raise SystemExit(f"{library}: no XGETBV at file offset {at:#x}")
        data[at : at + 3] = TRAP
    library.write_bytes(bytes(data))
    return len(offsets)


def _onnxruntime_copy(site: Path) -> None:
    """A copy of the installed onnxruntime in ``site`` with its XGETBV trapped; made again
    when the installed one or ``PATCH_VERSION`` changes (built aside, then renamed)."""
    import onnxruntime

    source = Path(onnxruntime.__file__).parent
    if source.resolve() == (site / "onnxruntime").resolve():
        return  # run from a masked process: this is the copy already
    libraries = sorted((source / "capi").glob("*.so*"))
    stamp = " ".join(
        [PATCH_VERSION, str(source), onnxruntime.__version__]
        + [f"{lib.name}:{lib.stat().st_size}:{lib.stat().st_mtime_ns}" for lib in libraries]
    )
    if (site / "source.txt").exists() and (site / "source.txt").read_text() == stamp:
        return
    if shutil.which("objdump") is None:
        raise SystemExit(f"bench.avx2 needs objdump to patch onnxruntime: {TOOLS}")
    aside = Path(tempfile.mkdtemp(prefix="site-", dir=site.parent))
    try:
        target = aside / "onnxruntime"
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        patched = {
            lib.name: _patch(lib)
            for lib in (target / "capi").glob("*.so*")
            if lib.stat().st_size > 1e6
        }
        if not any(patched.values()):
            raise SystemExit(f"no XGETBV in {sorted(patched)}: this onnxruntime cannot be masked")
        (aside / "source.txt").write_text(stamp)
        shutil.rmtree(site, ignore_errors=True)
        aside.rename(site)
    finally:
        shutil.rmtree(aside, ignore_errors=True)
    print(f"onnxruntime {onnxruntime.__version__}: XGETBV trapped {patched}", file=sys.stderr)


def _masked_cpuinfo(path: Path) -> None:
    """``/proc/cpuinfo`` without the hidden flags, at ``path``; replaced whole, and only
    when it changes (running masked processes read it)."""
    lines = []
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            kept = [flag for flag in value.split() if not HIDDEN_FLAGS.match(flag)]
            line = f"{key}: {' '.join(kept)}"
        lines.append(line)
    text = "\n".join(lines) + "\n"
    if path.exists() and path.read_text() == text:
        return
    aside = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    aside.write_text(text)
    os.replace(aside, path)


def _shim() -> Path:
    """The shim, compiled when missing or older than its source."""
    shim, source = BUILD / "shim.so", HERE / "avx2_shim.c"
    if shim.exists() and shim.stat().st_mtime >= source.stat().st_mtime:
        return shim
    if shutil.which("gcc") is None:
        raise SystemExit(f"bench.avx2 needs gcc to build its shim: {TOOLS}")
    aside = shim.with_name(f"shim.{os.getpid()}.so")
    command = ["gcc", "-std=gnu17", "-O2", "-shared", "-fPIC", "-o", str(aside), str(source)]
    subprocess.run([*command, "-ldl"], check=True)
    os.replace(aside, shim)
    return shim


def prepare() -> dict[str, str]:
    """Build what the mask needs (once) and return the environment a command runs in."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise SystemExit("bench.avx2 runs on x86-64 Linux only")
    flags = current_cpu().flags
    if "avx2" not in flags:
        raise SystemExit("bench.avx2 needs a CPU with AVX2; this one has none")
    if "avx_vnni" in flags:
        # AVX-VNNI needs no AVX-512 state, so onnxruntime would keep its VNNI kernels
        raise SystemExit(
            "this CPU has AVX-VNNI, which hiding AVX-512 does not hide: bench.avx2 cannot mask it"
        )
    BUILD.mkdir(parents=True, exist_ok=True)
    shim = _shim()
    _onnxruntime_copy(BUILD / "site")
    _masked_cpuinfo(BUILD / "cpuinfo")
    env = dict(os.environ, **SWITCHES)
    env["NPY_DISABLE_CPU_FEATURES"] = _numpy_avx512_targets()
    env["AVX2_SHIM_CPUINFO"] = str(BUILD / "cpuinfo")
    env["LD_PRELOAD"] = ":".join(filter(None, [str(shim), os.environ.get("LD_PRELOAD", "")]))
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(BUILD / "site"), os.environ.get("PYTHONPATH", "")])
    )
    return env


PROBE = """
import json, os, sys
import numpy as np
import onnx, onnxruntime as ort
from onnx import TensorProto, helper
from embedspace.encoders.cpu import cpu_class
from threadpoolctl import threadpool_info

# 255 x 127, summed in pairs: 64,770 does not fit the 16-bit lanes of vpmaddubsw (no VNNI)
k = 64
graph = helper.make_graph(
    [helper.make_node("MatMulInteger", ["a", "w"], ["y"])], "probe",
    [helper.make_tensor_value_info("a", TensorProto.UINT8, [None, k])],
    [helper.make_tensor_value_info("y", TensorProto.INT32, [None, 16])],
    [helper.make_tensor("w", TensorProto.INT8, [k, 16], np.full((k, 16), 127, np.int8).tobytes(), raw=True)],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
total = int(session.run(None, {"a": np.full((1, k), 255, np.uint8)})[0][0, 0])
import faiss
report = {
    "embedspace cpu class": cpu_class(),
    "onnxruntime u8 x s8 sum": total,
    "onnxruntime saturates (no VNNI)": total < 255 * 127 * k,
    "onnxruntime from": ort.__file__,
    "numpy dispatch disabled": os.environ.get("NPY_DISABLE_CPU_FEATURES", ""),
    "OpenBLAS kernels": sorted({i.get("architecture", "?") for i in threadpool_info()
                                if i["internal_api"] == "openblas"}),
    "faiss": faiss.SIMDConfig.get_level_name() if hasattr(faiss, "SIMDConfig") else sorted(
        name for name in sys.modules if name.startswith("faiss.swigfaiss")
    ),
}
try:
    import torch
    report["torch"] = torch.backends.cpu.get_cpu_capability()
except ImportError:
    pass
print(json.dumps(report))
"""

EMBED = """
import sys
import numpy as np
from bench.fidelity import _embed, _texts
np.savez(sys.argv[1], **_embed(["int8-rows-u8", "int8-u8", "int8-s8", "fp32"], _texts(int(sys.argv[2]))))
"""


def check(env: dict[str, str], texts: int) -> None:
    """Show what the masked process sees, and compare its vectors with qemu's AVX2 CPU."""
    import json

    import numpy as np

    here = dict(os.environ, PYTHONPATH=str(HERE.parent))
    env = dict(env, PYTHONPATH=os.pathsep.join([env["PYTHONPATH"], str(HERE.parent)]))
    for label, run_env in (("this CPU", here), ("masked", env)):
        out = subprocess.run(
            [sys.executable, "-c", PROBE], env=run_env, capture_output=True, text=True
        )
        if out.returncode:
            raise SystemExit(out.stderr)
        print(f"{label}: {json.dumps(json.loads(out.stdout), indent=1)}")
    if shutil.which("qemu-x86_64") is None:
        print("qemu-x86_64 not found (apt-get install qemu-user): vectors not compared")
        return
    runs: dict[str, Any] = {}
    for label, prefix, run_env in (
        ("masked", [], env),
        ("qemu EPYC-Rome", ["qemu-x86_64", "-cpu", "EPYC-Rome"], here),
        ("this CPU", [], here),
    ):
        target = BUILD / f"vectors-{len(runs)}.npz"
        command = [*prefix, sys.executable, "-c", EMBED, str(target), str(texts)]
        done = subprocess.run(command, env=run_env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{label}: {' '.join(command[:4])} failed:\n{done.stderr[-2000:]}")
        runs[label] = np.load(target)
    print(
        f"| recipe | {texts} texts: max difference, masked vs qemu EPYC-Rome | masked vs this CPU |"
    )
    print("|---|---|---|")
    for name in runs["masked"].files:
        masked = runs["masked"][name]
        qemu = np.abs(masked - runs["qemu EPYC-Rome"][name]).max()
        native = np.abs(masked - runs["this CPU"][name]).max()
        print(f"| {name} | {qemu:.3g} | {native:.3g} |")


def main() -> None:
    """Parse the command line; build the mask; show it (``--check``) and/or run the command."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="show the mask works (with qemu-user: bit for bit)"
    )
    parser.add_argument(
        "--texts", type=int, default=20, help="sentences --check embeds under qemu (slow)"
    )
    parser.add_argument("command", nargs="*", help="the command to run masked (after --)")
    args = parser.parse_args()
    if not args.command and not args.check:
        parser.error("give a command after --, or --check")
    env = prepare()
    if args.check:
        check(env, args.texts)
    if args.command:
        os.execvpe(args.command[0], args.command, env)


if __name__ == "__main__":
    main()
