"""kcdata: the Knowledge City data bureau's governance and open-data pipeline."""
