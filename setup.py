"""The compiled parts of promptprint, both on the fingerprint path: promptprint.text._canonical
(promptprint/text/_canonical.c: canonical text, skeleton and the whole signature of a batch) and
promptprint.text._shingles (promptprint/text/_shingles.c: tokens and the template tracker's loops); both
include promptprint/text/_shingle_hash.h (tokenizer and shingle hashes).

Project metadata lives in pyproject.toml; this file only declares the C extensions, which
`pip install -e .` (the Makefile) compiles with the machine's C compiler and Python
headers."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            f"promptprint.text.{name}",
            [f"promptprint/text/{name}.c"],
            depends=["promptprint/text/_shingle_hash.h"],
            extra_compile_args=["-O2", "-Wall"],
        )
        for name in ("_canonical", "_shingles")
    ]
)
