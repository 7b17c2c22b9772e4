"""Graph kernels below every algorithm package: union-find over dense integer ids.

``heuristics/`` (co-spend clusters) and ``cluster/`` (clustering runs) both build on these; the
package imports nothing else of chainsleuth, so the layers stay one-way.
"""
