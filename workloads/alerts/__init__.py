"""Alert routing: the Alertmanager webhook receiver and the decision audit log."""
