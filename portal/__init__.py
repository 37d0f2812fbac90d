"""Publishing to the city's open-data portal (CKAN), and the local portal stack it runs on.

`portal.stack` starts a real CKAN 2.12 with PostgreSQL, Redis and Solr 9 on the loopback
interface (`kcdata portal up|down|status`), so the publisher, the demo and the integration tests
talk to the same kind of portal the public uses.
"""
