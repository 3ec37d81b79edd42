"""Disaster recovery: the scheduled copy to the in-country store and the restore drill.

``python -m workloads.dr copy``: copy a tenant's folders (models, registry, feature data;
the audit log with its object-lock retention) from one S3 endpoint to another; the
scheduled CronJob on AWS runs it towards the in-country site.
``python -m workloads.dr drill``: back up, lose, restore and verify a tenant on two local
S3 endpoints, and report the measured RPO and restore time.
"""
