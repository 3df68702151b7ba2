"""Tests of one module or a few, on plain data, real files and real subprocesses."""
