"""Tests for bmo.reconcile: queue, rate limiters, informer, state machine, controller."""
