"""Generic controller machinery: clock, work queues, informers and caches, leader
election, events, health, metrics and logging. It knows nothing about certificates.
"""
