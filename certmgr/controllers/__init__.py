"""Reconcilers: gather (cache reads), decide (policies), act (Kubernetes and ACME writes)."""
