"""DNS-01: the TXT record an ACME CA looks up at ``_acme-challenge.<name>``.

Owns the provider seam (:mod:`.providers`), the map from a solver's ``dns01`` block to a
provider (:mod:`.registry`), the providers themselves, zone lookup and the propagation
check. Must not know about Challenges, Orders or scheduling: the Challenge controller
(``certmgr.controllers.acme.challenges``) drives these pieces.
"""
