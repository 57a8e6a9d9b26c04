"""Calibration tables (``<model name>.json``): impostor distance quantiles measured on LFW.

Read by :func:`countenance.gallery.load_calibration`; rebuilt by ``scripts/calibrate.py``.
"""
