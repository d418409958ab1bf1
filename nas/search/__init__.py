"""The search app: ``python -m nas.search method=fbnet device=cpu`` (Hydra)."""
