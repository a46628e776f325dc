"""Model loaders (ONNX via onnxruntime, Torch) and input preprocessing."""
