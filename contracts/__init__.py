"""What two layers of the platform must agree on, written once.

The infrastructure (``components/``, run by ``pulumi up``) and the workloads
(``workloads/``, run inside the images it deploys) are built and shipped separately; a
name one of them writes and the other reads (a service account an IAM trust policy
names, a metric an alert rule reads, the router configuration the rollback actuator
patches) lives here:

- :mod:`contracts.names`: names and labels (namespaces, service accounts, router,
  webhook and bucket names, model storage URIs, the model-name and DNS patterns, the
  tenant tier, the default region);
- :mod:`contracts.telemetry`: metric and alert names, ports;
- :mod:`contracts.router`: the canary router's configuration and the patches that move it;
- :mod:`contracts.serving`: the model server's public API (the only routes the server and
  the router expose) and its metrics port;
- :mod:`contracts.feature_store`: the ``feature_store.yaml`` renderer and the feature views;
- :mod:`contracts.signing`: where model-signing keys are mounted and how a public key is read;
- :mod:`contracts.regions`: what a region offers (instance types, zones), dated data.

Only the standard library and small pure libraries (pydantic, PyYAML, cryptography)
are imported here: never Pulumi, ``components``, ``workloads`` or the CLI package
(``tests/test_layering.py`` checks it).
"""
