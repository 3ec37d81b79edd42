"""Evasion case: A Redshift cluster with encryption switched off."""

import pulumi_aws as aws

aws.redshift.Cluster(
    "warehouse",
    cluster_identifier="warehouse",
    node_type="ra3.xlplus",
    master_username="admin",
    manage_master_password=True,
    encrypted="false",
)
