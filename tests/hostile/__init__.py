"""The hostile-code corpus (``cases.py``), used by ``tests/test_hostile.py``."""
