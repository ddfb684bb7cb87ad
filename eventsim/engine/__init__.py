"""The engine: numba kernels for discrete and continuous mode, simulate(), Result."""
