"""Label, annotation and finalizer keys, spelled exactly as cert-manager spells them.

Users select on these, cert-manager tooling reads them, and a Secret written by
cert-manager must look the same when certmgr takes over. Owns only the names; it must
not parse annotation values (ingress-shim does).
"""

from __future__ import annotations

from typing import Final

# --- On Secrets (and the temporary next-private-key Secret).
FOR_ATTENTION_OF: Final = "controller.cert-manager.io/fao"  # label, value "true"
CERTIFICATE_NAME: Final = "cert-manager.io/certificate-name"
ISSUER_NAME: Final = "cert-manager.io/issuer-name"
ISSUER_KIND: Final = "cert-manager.io/issuer-kind"
ISSUER_GROUP: Final = "cert-manager.io/issuer-group"
COMMON_NAME: Final = "cert-manager.io/common-name"
ALT_NAMES: Final = "cert-manager.io/alt-names"
IP_SANS: Final = "cert-manager.io/ip-sans"
URI_SANS: Final = "cert-manager.io/uri-sans"
EMAIL_SANS: Final = "cert-manager.io/email-sans"
SUBJECT_ORGANIZATIONS: Final = "cert-manager.io/subject-organizations"
SUBJECT_ORGANIZATIONAL_UNITS: Final = "cert-manager.io/subject-organizationalunits"
SUBJECT_COUNTRIES: Final = "cert-manager.io/subject-countries"
SUBJECT_PROVINCES: Final = "cert-manager.io/subject-provinces"
SUBJECT_LOCALITIES: Final = "cert-manager.io/subject-localities"
SUBJECT_STREET_ADDRESSES: Final = "cert-manager.io/subject-streetaddresses"
SUBJECT_POSTAL_CODES: Final = "cert-manager.io/subject-postalcodes"
SUBJECT_SERIAL_NUMBER: Final = "cert-manager.io/subject-serialnumber"
NEXT_PRIVATE_KEY: Final = "cert-manager.io/next-private-key"  # label, value "true"
# Secret keys besides tls.crt / tls.key / ca.crt.
KEYSTORE_P12: Final = "keystore.p12"
TRUSTSTORE_P12: Final = "truststore.p12"
KEYSTORE_JKS: Final = "keystore.jks"
TRUSTSTORE_JKS: Final = "truststore.jks"
OUTPUT_DER: Final = "key.der"
OUTPUT_COMBINED_PEM: Final = "tls-combined.pem"

# --- On CertificateRequests.
CERTIFICATE_REVISION: Final = "cert-manager.io/certificate-revision"
PRIVATE_KEY_SECRET_NAME: Final = "cert-manager.io/private-key-secret-name"

# --- ACME solver objects (Ingress, Service, Pod) and Challenges.
HTTP01_SOLVER: Final = "acme.cert-manager.io/http01-solver"  # label, value "true"
HTTP_DOMAIN: Final = "acme.cert-manager.io/http-domain"  # label: hash of the domain
HTTP_TOKEN: Final = "acme.cert-manager.io/http-token"  # label: hash of the token
ACME_FINALIZER: Final = "acme.cert-manager.io/finalizer"
LEGACY_ACME_FINALIZER: Final = "finalizer.acme.cert-manager.io"  # before cert-manager 1.18

# --- ingress-shim: annotations on Ingresses (and Gateways).
INGRESS_ISSUER: Final = "cert-manager.io/issuer"
INGRESS_CLUSTER_ISSUER: Final = "cert-manager.io/cluster-issuer"
INGRESS_ISSUER_KIND: Final = "cert-manager.io/issuer-kind"
INGRESS_ISSUER_GROUP: Final = "cert-manager.io/issuer-group"
TLS_ACME: Final = "kubernetes.io/tls-acme"
INGRESS_CLASS: Final = "kubernetes.io/ingress.class"
DURATION: Final = "cert-manager.io/duration"
RENEW_BEFORE: Final = "cert-manager.io/renew-before"
RENEW_BEFORE_PERCENTAGE: Final = "cert-manager.io/renew-before-percentage"
USAGES: Final = "cert-manager.io/usages"
REVISION_HISTORY_LIMIT: Final = "cert-manager.io/revision-history-limit"
PRIVATE_KEY_ALGORITHM: Final = "cert-manager.io/private-key-algorithm"
PRIVATE_KEY_ENCODING: Final = "cert-manager.io/private-key-encoding"
PRIVATE_KEY_SIZE: Final = "cert-manager.io/private-key-size"
PRIVATE_KEY_ROTATION_POLICY: Final = "cert-manager.io/private-key-rotation-policy"
SECRET_TEMPLATE: Final = "cert-manager.io/secret-template"
HTTP01_EDIT_IN_PLACE: Final = "acme.cert-manager.io/http01-edit-in-place"
HTTP01_INGRESS_CLASS: Final = "acme.cert-manager.io/http01-ingress-class"
HTTP01_INGRESS_INGRESSCLASSNAME: Final = "acme.cert-manager.io/http01-ingress-ingressclassname"

# ingress-shim writes these on the Certificates it makes; the ACME issuer reads them.
HTTP01_OVERRIDE_INGRESS_NAME: Final = "acme.cert-manager.io/http01-override-ingress-name"
HTTP01_OVERRIDE_INGRESS_CLASS: Final = "acme.cert-manager.io/http01-override-ingress-class"
HTTP01_OVERRIDE_INGRESS_CLASSNAME: Final = (
    "acme.cert-manager.io/http01-override-ingress-ingressclassname"
)
ISSUE_TEMPORARY_CERTIFICATE: Final = "cert-manager.io/issue-temporary-certificate"
# gateway-shim writes these on the Certificates of a Gateway: the ACME issuer makes the
# Gateway a parentRef of the solver's HTTPRoute.
HTTP01_PARENT_REF_NAME: Final = "acme.cert-manager.io/http01-parentrefname"
HTTP01_PARENT_REF_KIND: Final = "acme.cert-manager.io/http01-parentrefkind"
HTTP01_PARENT_REF_NAMESPACE: Final = "acme.cert-manager.io/http01-parentrefnamespace"
# On a Gateway: listener names (comma-separated) gateway-shim makes no Certificate for.
IGNORE_TLS_LISTENERS: Final = "cert-manager.io/ignore-tls-listeners"

# Every annotation ingress-shim reads from an Ingress (the list of issue 7).
INGRESS_SHIM_ANNOTATIONS: Final = (
    INGRESS_ISSUER,
    INGRESS_CLUSTER_ISSUER,
    INGRESS_ISSUER_KIND,
    INGRESS_ISSUER_GROUP,
    TLS_ACME,
    COMMON_NAME,
    ALT_NAMES,
    IP_SANS,
    URI_SANS,
    EMAIL_SANS,
    SUBJECT_ORGANIZATIONS,
    SUBJECT_ORGANIZATIONAL_UNITS,
    SUBJECT_COUNTRIES,
    SUBJECT_PROVINCES,
    SUBJECT_LOCALITIES,
    SUBJECT_STREET_ADDRESSES,
    SUBJECT_POSTAL_CODES,
    SUBJECT_SERIAL_NUMBER,
    DURATION,
    RENEW_BEFORE,
    RENEW_BEFORE_PERCENTAGE,
    USAGES,
    REVISION_HISTORY_LIMIT,
    PRIVATE_KEY_ALGORITHM,
    PRIVATE_KEY_ENCODING,
    PRIVATE_KEY_SIZE,
    PRIVATE_KEY_ROTATION_POLICY,
    SECRET_TEMPLATE,
    HTTP01_EDIT_IN_PLACE,
    HTTP01_INGRESS_CLASS,
    HTTP01_INGRESS_INGRESSCLASSNAME,
)
