"""Resource types: the cert-manager v1 API as typed, frozen dataclasses parsed from JSON.

Pure data, no I/O, no clock. Modules:

- ``codec``: the JSON edge (``JsonObject.from_dict``/``to_dict``, ``InvalidObject``, RFC 3339).
- ``durations``: Go duration strings (``parse_go_duration``, ``format_go_duration``).
- ``meta``: ``IssuerRef``, ``ObjectRef``, ``SecretKeySelector``, group and kind names.
- ``certificates``, ``requests``, ``issuers``, ``acme``: spec and status per kind.
- ``conditions``: ``Condition`` and ``set_condition``/``get_condition``/``remove_condition``.
- ``reasons``, ``labels``: cert-manager's exact reason strings and label/annotation keys.
"""
