"""Pure decisions, such as "does this certificate need issuing, and why?".

No I/O, no clock (time is an argument), no randomness.
"""
