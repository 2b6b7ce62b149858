"""The Kubernetes door: the only code that speaks HTTP to the Kubernetes API.

Configuration (kubeconfig, in-cluster), one aiohttp session, one request function with
retries, rate limits and typed errors. Nothing above this package sees HTTP.

Modules, in the order a request meets them:

- ``resources``: ``Resource`` and a constant per kind; REST paths.
- ``protocol``: ``KubeAPI``, the seam everything above depends on.
- ``client``: ``KubeClient``, the verbs (get, list, list_pages, watch, create, update,
  update_status, patch, delete) over any kind.
- ``watching``: framing and decoding of watch streams.
- ``bodies``: JSON of requests and responses (orjson; the stdlib for what orjson would
  read differently).
- ``transport``: the one request function (auth, rate limit, retries, Retry-After,
  error mapping, metrics).
- ``throttling``: the client-side token bucket.
- ``flowcontrol``: which limit that bucket gets ("auto": none when the server has API
  Priority and Fairness, probed once at connect; explicit values always win).
- ``config``: connection settings and credentials through the ``kubernetes`` package.
- ``errors``: ``APIError`` and its flat categories; ``ConfigError``.
- ``objects``: ``ObjectList``, ``WatchEvent`` and metadata accessors.
- ``metrics``: request counters and latency histograms.
"""
