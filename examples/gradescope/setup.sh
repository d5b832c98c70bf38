#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image.
#
# It expects the bundle made by make_bundle.py: this script, run_autograder and
# a copy of the grader repository in autodiff-grader/, all unpacked into
# /autograder/source. It installs Python, a virtual environment in
# /autograder/venv, the CPU build of torch 2.13.0 and the grader (editable, so the
# bundled rubric and reference are found).
#
# Choose Gradescope's Ubuntu 22.04 or 24.04 base image; Python 3.10+ is needed.
set -euo pipefail

ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="2.13.0"

export DEBIAN_FRONTEND=noninteractive
apt-get update
# util-linux gives `unshare`, which the grader's sandbox uses when the container allows it.
apt-get install -y --no-install-recommends python3 python3-venv python3-pip util-linux ca-certificates

"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10), f"Python 3.10+ needed, found {sys.version}"'
"$PYTHON" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --upgrade pip
# torch first, from the CPU wheel index: the default index would pull the large CUDA build.
"$ROOT/venv/bin/python" -m pip install "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
"$ROOT/venv/bin/python" -m pip install -e "$SOURCE/autodiff-grader"

# Fail the image build now, not at the first submission, if anything is missing.
"$ROOT/venv/bin/grade" --version
