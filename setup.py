"""The one compiled part of promptprint: indexer._shingles (see indexer/_shingles.c).

Project metadata lives in pyproject.toml; this file only declares the C extension, which
`pip install -e .` (the Makefile) compiles with the machine's C compiler and Python
headers."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("indexer._shingles", ["indexer/_shingles.c"], extra_compile_args=["-O2", "-Wall"])])
