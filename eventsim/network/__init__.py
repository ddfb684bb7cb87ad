"""Networks: layer dataclasses, the Network, and their HDF5 file format."""
