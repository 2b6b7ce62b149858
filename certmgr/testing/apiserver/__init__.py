"""In-process Kubernetes API simulator: the server, its storage and the pure checks it runs."""
