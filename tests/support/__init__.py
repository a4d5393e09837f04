"""Plain helpers the tests import: classes, functions and constants. Fixtures live in conftest.py
files, which import what they need from here; no module imports a conftest.py or a test module."""
