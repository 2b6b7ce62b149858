"""Shipped test doubles and local tooling: the Pebble harness, the Kubernetes API
simulator and its data plane, a fake clock, builders. Product code never imports this.
"""
