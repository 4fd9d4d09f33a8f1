"""The default text model's recipe is chosen per CPU class and checked before use."""

from __future__ import annotations

import pytest

from embedspace.encoders.cpu import (
    ARM64,
    AVX2,
    AVX512,
    OTHER,
    VNNI,
    X86_OLD,
    CpuInfo,
    cpu_class,
    current_cpu,
)
from embedspace.encoders.recipe import CANDIDATES, Choice, Trial, choose

# Flag sets as /proc/cpuinfo prints them (trimmed to what matters).
ZEN2 = {"sse4_2", "avx", "avx2", "fma", "f16c"}  # AMD EPYC Rome: AVX2, no AVX-512
SKYLAKE_X = ZEN2 | {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"}
CASCADE_LAKE = SKYLAKE_X | {"avx512_vnni"}
ALDER_LAKE = ZEN2 | {"avx_vnni"}  # AVX-VNNI without AVX-512
SANDY_BRIDGE = {"sse4_2", "avx"}


@pytest.mark.parametrize(
    ("machine", "flags", "expected"),
    [
        ("x86_64", ZEN2, AVX2),
        ("x86_64", SKYLAKE_X, AVX512),
        ("x86_64", CASCADE_LAKE, VNNI),
        ("x86_64", ALDER_LAKE, VNNI),
        ("x86_64", SANDY_BRIDGE, X86_OLD),
        ("AMD64", set(), X86_OLD),
        ("aarch64", {"asimd", "asimddp"}, ARM64),
        ("riscv64", set(), OTHER),
    ],
)
def test_cpu_classes(machine: str, flags: set[str], expected: str) -> None:
    assert cpu_class(CpuInfo(machine.lower(), frozenset(flags))) == expected


def test_this_machine_has_a_class() -> None:
    cpu = current_cpu()
    assert cpu_class(cpu) in CANDIDATES
    if cpu.machine == "x86_64":
        assert cpu.flags, "/proc/cpuinfo flags were not read"


def _measuring(results: dict[str, Trial]) -> tuple[list[str], object]:
    tried: list[str] = []

    def measure(name: str) -> Trial:
        tried.append(name)
        return results[name]

    return tried, measure


GOOD_ROWS = Trial("int8-rows", 0.9992, 0.998, 2.3)
LOSSY_ROWS = Trial("int8-rows", 0.9987, 0.996, 2.3)  # below the 0.999 mean floor
GOOD_S8 = Trial("int8-s8", 0.9994, 0.997, 1.5)
SATURATED_S8 = Trial("int8-s8", 0.986, 0.977, 1.5)  # what AVX2 does to u8 x s8
GOOD_ROWS_U8 = Trial("int8-rows-u8", 0.9992, 0.998, 2.0)
SLOW_ROWS_U8 = Trial("int8-rows-u8", 0.9992, 0.998, 1.05)
GOOD_U8 = Trial("int8-u8", 0.9994, 0.997, 1.3)
SLOW_U8 = Trial("int8-u8", 0.9994, 0.997, 1.02)
EVERY = {t.recipe: t for t in (GOOD_ROWS, GOOD_S8, GOOD_ROWS_U8, GOOD_U8)}


def test_vnni_takes_every_matmul_in_int8_when_it_measures_well() -> None:
    tried, measure = _measuring(EVERY)
    choice = choose(VNNI, measure)  # type: ignore[arg-type]
    assert choice.recipe == "int8-rows" and tried == ["int8-rows"]


def test_vnni_falls_back_to_per_tensor_u8s8_when_per_row_is_inaccurate() -> None:
    tried, measure = _measuring({**EVERY, "int8-rows": LOSSY_ROWS})
    choice = choose(VNNI, measure)  # type: ignore[arg-type]
    assert choice.recipe == "int8-s8" and tried == ["int8-rows", "int8-s8"]
    assert "int8-rows: cosine to fp32 0.99870 mean" in choice.explain()


def test_vnni_falls_back_to_u8u8_when_both_u8s8_recipes_are_inaccurate() -> None:
    tried, measure = _measuring({**EVERY, "int8-rows": LOSSY_ROWS, "int8-s8": SATURATED_S8})
    choice = choose(VNNI, measure)  # type: ignore[arg-type]
    assert choice.recipe == "int8-u8" and tried == ["int8-rows", "int8-s8", "int8-u8"]
    assert "int8-s8: cosine to fp32 0.98600 mean" in choice.explain()


@pytest.mark.parametrize("machine_class", [AVX2, AVX512, ARM64, X86_OLD])
def test_without_vnni_u8s8_is_never_tried_and_the_fastest_u8u8_recipe_wins(
    machine_class: str,
) -> None:
    tried, measure = _measuring(EVERY)
    choice = choose(machine_class, measure)  # type: ignore[arg-type]
    assert choice.recipe == "int8-rows-u8" and tried == ["int8-rows-u8", "int8-u8"]
    assert "int8-u8: 1.30x the speed of fp32, slower" in choice.explain()


def test_without_vnni_a_faster_per_tensor_recipe_beats_the_per_row_one() -> None:
    # The order of the u8 x u8 recipes was never timed on an AVX2-only CPU: both are.
    faster_u8 = Trial("int8-u8", 0.9994, 0.997, 2.4)
    tried, measure = _measuring({**EVERY, "int8-u8": faster_u8})
    choice = choose(AVX2, measure)  # type: ignore[arg-type]
    assert choice.recipe == "int8-u8" and tried == ["int8-rows-u8", "int8-u8"]
    assert "int8-rows-u8: 2.00x the speed of fp32, slower" in choice.explain()


def test_without_vnni_per_tensor_u8u8_follows_a_slow_per_row_recipe() -> None:
    tried, measure = _measuring({"int8-rows-u8": SLOW_ROWS_U8, "int8-u8": GOOD_U8})
    choice = choose(AVX2, measure)  # type: ignore[arg-type]
    assert choice.recipe == "int8-u8" and tried == ["int8-rows-u8", "int8-u8"]
    assert "int8-rows-u8: only 1.05x the speed of fp32" in choice.explain()


def test_an_int8_recipe_that_is_not_faster_gives_way_to_fp32() -> None:
    tried, measure = _measuring({"int8-rows-u8": SLOW_ROWS_U8, "int8-u8": SLOW_U8})
    choice = choose(AVX2, measure)  # type: ignore[arg-type]
    assert choice.recipe == "fp32" and tried == ["int8-rows-u8", "int8-u8"]
    assert "only 1.02x the speed of fp32" in choice.explain()


@pytest.mark.parametrize("machine_class", [OTHER, "a class nobody knows"])
def test_cpus_without_a_known_int8_kernel_run_fp32_untried(machine_class: str) -> None:
    tried, measure = _measuring({})
    assert choose(machine_class, measure).recipe == "fp32"  # type: ignore[arg-type]
    assert tried == []


def test_a_choice_round_trips_through_json() -> None:
    choice = Choice("int8-u8", AVX2, (SATURATED_S8, GOOD_U8))
    assert Choice.from_json(choice.to_json()) == choice


def test_a_candidate_that_fails_to_run_gives_way_to_the_next() -> None:
    def measure(name: str) -> Trial:
        if name == "int8-rows":
            raise RuntimeError("Could not find an implementation for QuantizeLinear\nmore")
        return EVERY[name]

    choice = choose(VNNI, measure)
    assert choice.recipe == "int8-s8"
    assert "int8-rows: failed: Could not find an implementation" in choice.explain()
