"""How the default text model runs on this CPU: which quantization recipe, and why.

The same int8 graph is exact on one CPU and lossy on another (``encoders.cpu`` explains the
kernels), so the recipe is chosen per CPU class when the model is prepared, and every
candidate is then *measured on this machine* against the fp32 graph before it is used: a
candidate must keep the fidelity floor (mean and minimum cosine to fp32) and run at least
``MIN_SPEEDUP`` times faster than fp32, or the next one is tried; fp32 always qualifies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from embedspace.encoders.cpu import ARM64, AVX2, AVX512, OTHER, VNNI, X86_OLD

MIN_MEAN_COSINE = 0.999
MIN_COSINE = 0.995
MIN_SPEEDUP = 1.1  # an int8 recipe that is not clearly faster than fp32 is not worth its error


@dataclass(frozen=True)
class Recipe:
    """One way to run the model: ``signed_weights`` is ``None`` for fp32."""

    name: str
    description: str
    signed_weights: bool | None
    per_row: bool = False


RECIPES = {
    "int8-rows": Recipe(
        "int8-rows",
        "every matmul int8, a scale per token row, uint8 x int8 (exact with VNNI)",
        True,
        per_row=True,
    ),
    "int8-rows-u8": Recipe(
        "int8-rows-u8",
        "every matmul int8, a scale per token row, uint8 x uint8 (exact on x86-64)",
        False,
        per_row=True,
    ),
    "int8-s8": Recipe("int8-s8", "SmoothQuant int8, uint8 x int8 matmuls (exact with VNNI)", True),
    "int8-u8": Recipe(
        "int8-u8", "SmoothQuant int8, uint8 x uint8 matmuls (exact on x86-64 without VNNI)", False
    ),
    "fp32": Recipe("fp32", "fp32, identical to the reference model", None),
}

# Without VNNI, uint8 x int8 saturates 16-bit sums (vpmaddubsw), so the u8 x s8 recipes are
# never tried there; ARM64's kernels accumulate in 32 bits, which the measurement checks.
# With VNNI the order is measured fastest first (bench/RESULTS.md §23: int8-rows 1.5x
# int8-s8); on the other classes it is not, so every candidate there is measured and the
# fastest that qualifies is kept (``ORDER_MEASURED``).
CANDIDATES: dict[str, tuple[str, ...]] = {
    VNNI: ("int8-rows", "int8-s8", "int8-u8"),
    AVX512: ("int8-rows-u8", "int8-u8"),
    AVX2: ("int8-rows-u8", "int8-u8"),
    ARM64: ("int8-rows-u8", "int8-u8"),
    X86_OLD: ("int8-rows-u8", "int8-u8"),  # also x86 whose flags are unknown (no /proc/cpuinfo)
    OTHER: (),
}
ORDER_MEASURED = frozenset({VNNI})


@dataclass(frozen=True)
class Trial:
    """What one candidate measured on this machine against the fp32 graph."""

    recipe: str
    mean_cosine: float
    min_cosine: float
    speedup: float
    error: str = ""  # the candidate could not be built or run here

    def verdict(self) -> str:
        """``""`` if the candidate qualifies, else why not."""
        if self.error:
            return f"failed: {self.error}"
        if self.mean_cosine < MIN_MEAN_COSINE or self.min_cosine < MIN_COSINE:
            return (
                f"cosine to fp32 {self.mean_cosine:.5f} mean / {self.min_cosine:.4f} min, "
                f"below {MIN_MEAN_COSINE} / {MIN_COSINE}"
            )
        if self.speedup < MIN_SPEEDUP:
            return f"only {self.speedup:.2f}x the speed of fp32 (needs {MIN_SPEEDUP}x)"
        return ""


@dataclass(frozen=True)
class Choice:
    """The recipe chosen for a CPU class, with the trials that led to it."""

    recipe: str
    cpu_class: str
    trials: tuple[Trial, ...] = field(default=())

    def explain(self) -> str:
        """One line for ``embedspace encoders`` and ``info``."""
        kept = [t for t in self.trials if t.recipe == self.recipe]
        measured = f", cosine to fp32 {kept[0].mean_cosine:.5f} mean" if kept else ""
        rejected = [f"{t.recipe}: {t.verdict()}" for t in self.trials if t.verdict()]
        rejected += [
            f"{t.recipe}: {t.speedup:.2f}x the speed of fp32, slower"
            for t in self.trials
            if not t.verdict() and t.recipe != self.recipe
        ]
        why = f"; rejected {'; '.join(rejected)}" if rejected else ""
        return f"{self.recipe} (chosen for this {self.cpu_class} CPU{measured}{why})"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``from_json`` reads it back)."""
        return {
            "recipe": self.recipe,
            "cpu_class": self.cpu_class,
            "trials": [asdict(t) for t in self.trials],
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Choice:
        """The ``Choice`` that ``to_json`` wrote."""
        return Choice(
            recipe=str(data["recipe"]),
            cpu_class=str(data["cpu_class"]),
            trials=tuple(Trial(**t) for t in data.get("trials", [])),
        )


def choose(cpu_class: str, measure: Callable[[str], Trial]) -> Choice:
    """The recipe for ``cpu_class``: where the candidates' order was measured
    (``ORDER_MEASURED``), the first whose ``measure``-d trial qualifies; elsewhere the
    fastest of those that qualify; fp32 if none does.

    ``measure(recipe_name)`` builds and runs that recipe on this machine; it is only called
    for the candidates that are tried.
    """
    trials: list[Trial] = []
    for name in CANDIDATES.get(cpu_class, ()):
        try:
            trial = measure(name)
        except Exception as error:  # a graph this CPU's runtime cannot build or run
            trial = Trial(name, 0.0, 0.0, 0.0, error=str(error).splitlines()[0][:200])
        trials.append(trial)
        if not trial.verdict() and cpu_class in ORDER_MEASURED:
            return Choice(name, cpu_class, tuple(trials))
    qualified = [t for t in trials if not t.verdict()]
    if qualified:
        fastest = max(qualified, key=lambda t: t.speedup)
        return Choice(fastest.recipe, cpu_class, tuple(trials))
    return Choice("fp32", cpu_class, tuple(trials))
