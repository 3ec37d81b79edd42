"""Offline engine and command-line interface of the sovereign ML platform blueprint."""
