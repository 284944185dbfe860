"""Text steps of the fingerprint: normalize -> canonical text -> skeleton -> lexical signature.

The regexes in normalize.py and skeleton.py are the definitions; the C modules
(_canonical.c, _shingles.c, sharing _shingle_hash.h) run them bit for bit.
"""
