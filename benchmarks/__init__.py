"""Benchmarks: ``python -m benchmarks [--quick]`` prints one table of figures and targets.

Not a package that is installed (``setup.cfg`` excludes it); run it from a checkout.
"""
