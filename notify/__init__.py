"""Notifications: the e-mails a department and the bureau get about refused deliveries, held-back
versions and overdue resources (`messages` builds them, in Chinese with the English beside it;
`mail` sends them over SMTP). A stage: it knows the catalog, never the other stages or the wiring.
"""
