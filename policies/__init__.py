"""CrossGuard policy rules (importable) shared by the packs under this folder."""
