"""Which class of CPU this is, as far as onnxruntime's integer matmul kernels care.

onnxruntime (MLAS) multiplies uint8 activations by int8 weights ("u8s8") with different
instructions per CPU:

- with VNNI (AVX-512 VNNI, or AVX-VNNI on newer desktop CPUs) ``vpdpbusd`` adds the four
  u8 x s8 products straight into 32-bit sums: exact;
- without it (AVX2, or AVX-512 without VNNI) ``vpmaddubsw`` first adds pairs of u8 x s8
  products into *16-bit* lanes with saturation: 255 x 127 x 2 = 64,770 > 32,767, so large
  activations meeting large weights are clipped. That is what moved minilm-l6's vectors to
  cosine 0.977 on an AVX2-only EPYC. uint8 x uint8 ("u8u8") widens to 16 bits and uses
  ``vpmaddwd`` (32-bit sums) instead: exact on every x86-64 CPU.

So the quantization recipe is chosen per class (see ``minilm``), and every choice is then
checked on this machine before it is used.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

VNNI = "x86-64 VNNI"
AVX512 = "x86-64 AVX-512 (no VNNI)"
AVX2 = "x86-64 AVX2 (no VNNI)"
X86_OLD = "x86-64 without AVX2"
ARM64 = "arm64"
OTHER = "other"
CLASSES = (VNNI, AVX512, AVX2, X86_OLD, ARM64, OTHER)


@dataclass(frozen=True)
class CpuInfo:
    """The machine name (``platform.machine()``) and the CPU's feature flags."""

    machine: str
    flags: frozenset[str]


def current_cpu() -> CpuInfo:
    """This machine's CPU, from ``/proc/cpuinfo`` where there is one (Linux); elsewhere the
    flags are unknown and the class falls back to what the machine name says."""
    flags: frozenset[str] = frozenset()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags = frozenset(value.split())
            break
    return CpuInfo(machine=platform.machine().lower(), flags=flags)


def cpu_class(cpu: CpuInfo | None = None) -> str:
    """One of ``CLASSES`` for ``cpu`` (default: this machine)."""
    cpu = cpu or current_cpu()
    if cpu.machine in ("x86_64", "amd64", "i686", "i386", "x86"):
        if cpu.flags & {"avx512_vnni", "avx_vnni", "avx512vnni"}:
            return VNNI
        if {"avx512bw", "avx512f"} <= cpu.flags:
            return AVX512
        if "avx2" in cpu.flags:
            return AVX2
        return X86_OLD
    if cpu.machine in ("aarch64", "arm64"):
        return ARM64
    return OTHER
