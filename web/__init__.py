"""The catalog web: the bureau's and departments' browser view of the data-resource catalog.

The wiring floor (like kcdata/): it may import catalog/, common/, portal/ helpers and kcdata/.
"""
