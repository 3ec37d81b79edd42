"""Importable CrossGuard rules: one validator per rule, shared by the packs and the tests.

Constructing a ``PolicyPack`` starts a gRPC server and blocks, so nothing here builds a
pack; ``policies/<pack>/__main__.py`` does.
"""
