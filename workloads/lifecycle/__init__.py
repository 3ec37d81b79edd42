"""The local model lifecycle demo: data, features, training, serving, drift, canary."""
