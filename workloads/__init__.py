"""Code that runs in the cluster: features, training, serving, monitoring, rollout."""
