"""Prefilter engines behind one interface: hyperscan, google-re2 and plain ``re``.

Each engine compiles the *superset* translations of the patterns (``_translate``) and only
proposes candidates; the matcher confirms every candidate with the pattern's own ``re``, so
all engines give identical results and differ only in speed.
"""
