"""STBP training on dense numpy tensors (Wu et al. 2018, 2019): surrogates, per-layer forward and backward through space and time, losses, optimisers, data, the training loop."""
