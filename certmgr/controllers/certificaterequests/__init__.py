"""Controllers of CertificateRequests that are not issuers: the built-in approver."""
