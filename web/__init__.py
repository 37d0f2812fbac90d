"""The catalog web: the bureau's and departments' browser view of the data-resource catalog.

An entry point (like the CLI in kcdata/): it may import the running system (system/), the flow (flow/),
catalog/, common/ and portal/ helpers.
"""
