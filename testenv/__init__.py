"""Test beds: the Kubernetes API emulator, a local Ironic, the fake agent and the Ironic proxy.

Not part of the ``bmo`` distribution; used by the tests, the sandbox and the benchmarks, and
type-checked like ``bmo``.
"""
