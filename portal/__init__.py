"""Publishing to the city's open-data portal (CKAN): the gate, the catalog -> CKAN mapping, the
files the public downloads, and the publisher. It is given a portal target (URL + token) and
the open views the governance stage built; it knows nothing of how the local portal is run
(that is `stack/`).
"""
