"""The engine under the dashboard: models, conversion, quantization, inference, evaluation, benchmarks."""
