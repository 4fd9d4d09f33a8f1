"""bench.avx2 (the AVX2-only mask the benchmarks and `.ci/run --avx2` use) takes the code paths
of a CPU without AVX-512 or VNNI: onnxruntime's u8 x s8 kernel saturates as it does there,
and embedspace, numpy and faiss see an AVX2 CPU."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from embedspace.encoders.cpu import current_cpu

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]  # under .ci/run --avx2: masked already
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, paths)))
    return subprocess.run(
        [sys.executable, "-m", "bench.avx2", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="needs Linux's /proc/cpuinfo")
def test_the_mask_gives_the_arithmetic_and_the_class_of_an_avx2_only_cpu() -> None:
    for tool in ("gcc", "objdump"):
        if shutil.which(tool) is None:
            if os.environ.get("CI"):
                pytest.fail(f"{tool} missing: .ci/run installs gcc, libc6-dev and binutils")
            pytest.skip(f"{tool} missing (apt-get install gcc libc6-dev binutils)")
    if "avx2" not in current_cpu().flags or "avx_vnni" in current_cpu().flags:
        refused = _run(["--", sys.executable, "-c", "pass"])
        assert refused.returncode != 0
        assert "AVX-VNNI" in refused.stderr or "AVX2" in refused.stderr
        return
    probe = _run(["--", sys.executable, "-c", "from bench.avx2 import PROBE; exec(PROBE)"])
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    assert seen["embedspace cpu class"] == "x86-64 AVX2 (no VNNI)"
    assert seen["onnxruntime saturates (no VNNI)"] is True
    assert seen["onnxruntime u8 x s8 sum"] == 32767 * 32  # 64 products, saturated in pairs
    assert "bench/.cache/avx2/site/onnxruntime" in seen["onnxruntime from"]
    assert seen["numpy dispatch disabled"]  # numpy has AVX-512 targets to turn off
    assert seen["OpenBLAS kernels"] in ([], ["Haswell"])
    assert seen["faiss"] in ("AVX2", ["faiss.swigfaiss_avx2"])
    if "avx512_vnni" in current_cpu().flags and not os.environ.get("AVX2_SHIM_CPUINFO"):
        # the same probe unmasked on this VNNI CPU: the exact sum, so the mask made the change
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        command = [sys.executable, "-c", "from bench.avx2 import PROBE; exec(PROBE)"]
        plain = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
        assert plain.returncode == 0, plain.stderr
        unmasked = json.loads(plain.stdout.strip().splitlines()[-1])
        assert unmasked["onnxruntime u8 x s8 sum"] == 255 * 127 * 64
        assert unmasked["embedspace cpu class"] == "x86-64 VNNI"
