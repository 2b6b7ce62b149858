"""The HTTP-01 solver server (aiohttp): answers ``/.well-known/acme-challenge/<token>``."""
