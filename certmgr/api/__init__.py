"""Resource types: the cert-manager v1 API as typed, frozen dataclasses parsed from JSON.

Pure data, no I/O.
"""
