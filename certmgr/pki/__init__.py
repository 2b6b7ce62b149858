"""Pure PKI data: private keys, CSRs, certificate parsing, renewal-time arithmetic.

No I/O, no clock, no randomness beyond key generation itself.
"""
