"""Faults against the real stack: what the platform does while a part of it is gone, and after."""
