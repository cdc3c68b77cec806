"""Category generators of tunix_nb's own datasets (standard library only; see common.py)."""
