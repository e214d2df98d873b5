#!/usr/bin/env bash
# Set up, prepare the bundled default model (EfficientNet-Lite0 as FP32 and FP16 IR), and start
# the dashboard on http://127.0.0.1:8501 (PORT=... to change).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh app
if [ ! -f "${OVDASH_WORKSPACE:-workspace}/models/efficientnet-lite0/fp32/manifest.json" ]; then
  echo "preparing the default model: EfficientNet-Lite0 to OpenVINO FP32 and FP16"
  .venv/bin/python -m core convert --model efficientnet-lite0 --variant fp32 fp16
fi
echo "open http://127.0.0.1:${PORT:-8501}"
# `python -m streamlit` (not the console script) keeps job worker processes quick to start.
exec .venv/bin/python -m streamlit run app.py --server.address 127.0.0.1 --server.port "${PORT:-8501}" \
  --server.maxUploadSize "${OVDASH_MAX_UPLOAD_MB:-200}"
