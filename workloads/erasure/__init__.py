"""Erasure of one customer (an entity key) from every store of a tenant, with a receipt.

See :mod:`workloads.erasure.erase` for what is erased where and
:mod:`workloads.erasure.__main__` for the command.
"""
