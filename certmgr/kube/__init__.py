"""The Kubernetes door: the only code that speaks HTTP to the Kubernetes API.

Configuration (kubeconfig, in-cluster), one aiohttp session, one request function with
retries, rate limits and typed errors. Nothing above this package sees HTTP.
"""
