"""CKAN extension of the Knowledge City open-data portal (知识城开放数据)."""
