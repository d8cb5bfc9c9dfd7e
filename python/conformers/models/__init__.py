"""Conformer generators. Today: the RDKit ETKDG baseline; ConfOpt, DMCG, ConfGF and ConfVAE follow."""
