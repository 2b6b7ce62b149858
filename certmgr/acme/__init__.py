"""The ACME door: the only code that imports ``acme``/``josepy``.

A narrow async interface over the synchronous ``acme`` library: single protocol
steps run in threads; polling is ours (short, growing intervals), never the library's.
"""
