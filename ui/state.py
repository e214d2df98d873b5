"""The names under which pages keep per-user choices in `st.session_state`, in one place."""

from __future__ import annotations

MODEL = "model_id"  # the model chosen on any page, shared by all pages of a session
MODEL_FROM_URL = "_model_from_url"  # the ?model= value already applied, so a link applies once

CLASSIFY_RESULTS = "classify-results"  # the last classification of this session, with the inputs it answers
CLASSIFY_DECODED = "classify-decoded"  # uploads decoded once: sha1 of the bytes -> image, or the error text
CLASSIFY_CAMERA = "classify-camera-on"
CLASSIFY_VARIANTS = "cls-variants-{model}"

MODELS_SOURCE = "models-source"
MODELS_PICK_YOURS = "models-pick-yours"
MODELS_ERROR = "models-error"
MODELS_NOTICE = "models-notice"

QUANTIZE_LAYERS = "quantize-layers"  # {(model_id, fp32 fingerprint): [layer names]}: read once per session
QUANTIZE_IGNORED = "q-ignored-{model}"

BENCHMARK_HISTORY = "b-history"
BENCHMARK_MODELS = "b-models"

ACCURACY_EVALUATION = "acc-eval-{model}"
ACCURACY_NEWEST = "acc-eval-newest-{model}"

TRADEOFFS_MODELS = "t-models"

JOBS_ERROR = "jobs-error"
JOB_ENDED = "job-ended-{key}-{job}"
