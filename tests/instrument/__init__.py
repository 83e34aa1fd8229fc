"""Instrumentation the tests install in the processes they start (see lab_instrument.py)."""
